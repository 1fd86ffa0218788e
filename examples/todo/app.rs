//! The todo app: each owner has todo lists with items, kept in memory.
//! Kept apart from `main.rs` so a test can build it in-process.
//!
//! Two contexts are what a screen watches:
//!
//! - `lists` (param `owner`): `lists` — the owner's lists with item counts;
//! - `list` (param `list_id`): `list` — the list's title, and `items`.
//!
//! Each mutation shows one rule of invalidation (PROTOCOL.md sections 5-6);
//! the doc comment on each says which, and `examples/todo/README.md` walks
//! through the exact entries.
//!
//! The owner is a plain arg here: there is no login in this example. A real
//! app takes the user from `cx.user()` and refuses other owners.

use mizan::{Cx, Error, Mizan, MizanBuilder};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

// The longest owner name, list title and item text, in characters.
const MAX_OWNER: usize = 40;
const MAX_TITLE: usize = 80;
const MAX_TEXT: usize = 200;
// How many lists one owner, and items one list, may hold.
const MAX_LISTS: usize = 100;
const MAX_ITEMS: usize = 500;

/// The todo app.
pub(crate) fn builder() -> MizanBuilder {
    Mizan::builder()
        .functions([
            LISTS,
            LIST,
            ITEMS,
            CREATE_LIST,
            RENAME_LIST,
            ADD_ITEM,
            TOGGLE_ITEM,
            DELETE_LIST,
        ])
        .state(Store::default())
}

/// One row of the `lists` screen.
#[derive(Serialize, JsonSchema)]
struct ListSummary {
    id: u64,
    title: String,
    /// Items not done yet.
    open: usize,
    /// Items done.
    done: usize,
}

/// A list's header: the `list` slot of the `list` context, and what
/// `rename_list` merges into it.
#[derive(Serialize, JsonSchema)]
struct ListInfo {
    id: u64,
    owner: String,
    title: String,
}

/// One item of a list.
#[derive(Clone, Serialize, JsonSchema)]
struct Item {
    id: u64,
    text: String,
    done: bool,
}

/// What `delete_list` answers.
#[derive(Serialize, JsonSchema)]
struct Deleted {
    id: u64,
}

/// Every list of every owner, in memory.
#[derive(Default)]
struct Store {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    last_list: u64,
    last_item: u64,
    /// By id, so an owner's lists come out in creation order.
    lists: BTreeMap<u64, List>,
}

struct List {
    owner: String,
    title: String,
    items: Vec<Item>,
}

impl List {
    fn info(&self, id: u64) -> ListInfo {
        ListInfo {
            id,
            owner: self.owner.clone(),
            title: self.title.clone(),
        }
    }
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Data {
    fn list(&self, list_id: u64) -> Result<&List, Error> {
        self.lists
            .get(&list_id)
            .ok_or_else(|| Error::not_found(format!("there is no list {list_id}")))
    }

    /// The list, if `owner` owns it. A mismatch is `not_found` too: the
    /// entries of a mutation are scoped by its args, so accepting a wrong
    /// `owner` would invalidate the wrong owner's `lists`.
    fn owned_list(&mut self, owner: &str, list_id: u64) -> Result<&mut List, Error> {
        valid_owner(owner)?;
        self.lists
            .get_mut(&list_id)
            .filter(|l| l.owner == owner)
            .ok_or_else(|| Error::not_found(format!("{owner} has no list {list_id}")))
    }
}

/// An owner name is 1-40 characters without surrounding spaces. It is
/// refused rather than trimmed: invalidation entries are scoped by the args
/// as sent, so `" alice"` would reach no watcher of `alice`.
fn valid_owner(owner: &str) -> Result<(), Error> {
    if owner.is_empty() || owner.trim() != owner || owner.chars().count() > MAX_OWNER {
        let reason = format!("an owner is 1-{MAX_OWNER} characters, without surrounding spaces");
        return Err(invalid("owner", &reason));
    }
    Ok(())
}

/// `text` trimmed, if it then has 1 to `max` characters.
fn cleaned(text: &str, field: &str, max: usize) -> Result<String, Error> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(invalid(field, &format!("a {field} is 1-{max} characters")));
    }
    Ok(text.to_owned())
}

/// `invalid_args` with the same `details` shape the server gives for args
/// that do not decode.
fn invalid(path: &str, reason: &str) -> Error {
    Error::invalid_args(format!("{path}: {reason}")).with_details(serde_json::json!({"path": path, "reason": reason}))
}

// ------------------------------------------------------------ reads

/// The owner's lists, oldest first, with how many items are open and done.
#[mizan::function(context = "lists")]
async fn lists(cx: &Cx, owner: String) -> Result<Vec<ListSummary>, Error> {
    valid_owner(&owner)?;
    let data = cx.state::<Store>()?.lock();
    Ok(data
        .lists
        .iter()
        .filter(|(_, l)| l.owner == owner)
        .map(|(&id, l)| {
            let done = l.items.iter().filter(|i| i.done).count();
            ListSummary {
                id,
                title: l.title.clone(),
                open: l.items.len() - done,
                done,
            }
        })
        .collect())
}

/// A list's header.
#[mizan::function(context = "list")]
async fn list(cx: &Cx, list_id: u64) -> Result<ListInfo, Error> {
    Ok(cx.state::<Store>()?.lock().list(list_id)?.info(list_id))
}

/// A list's items, in the order they were added.
#[mizan::function(context = "list")]
async fn items(cx: &Cx, list_id: u64) -> Result<Vec<Item>, Error> {
    Ok(cx.state::<Store>()?.lock().list(list_id)?.items.clone())
}

// ------------------------------------------------------------ mutations

/// Tier 1, scoped: the arg `owner` is a param of `lists`, so the entry is
/// `{"context":"lists","params":{"owner":..}}` and only that owner's
/// `lists` screens refetch.
#[mizan::function(affects = "lists")]
async fn create_list(cx: &Cx, owner: String, title: String) -> Result<ListInfo, Error> {
    valid_owner(&owner)?;
    let title = cleaned(&title, "title", MAX_TITLE)?;
    let mut data = cx.state::<Store>()?.lock();
    if data.lists.values().filter(|l| l.owner == owner).count() >= MAX_LISTS {
        return Err(Error::limit(format!("{owner} has {MAX_LISTS} lists already")));
    }
    data.last_list += 1;
    let id = data.last_list;
    // Not `let list`: that name is the `list` function's constant.
    let created = List {
        owner,
        title,
        items: Vec::new(),
    };
    let info = created.info(id);
    data.lists.insert(id, created);
    Ok(info)
}

/// Merge, and tier 3 (broad). The new `ListInfo` is spliced into the `list`
/// slot of every `list{list_id}` watcher: no refetch. The list's title is
/// also on its owner's `lists` screen, but no arg is named `owner`, so that
/// entry is broad (chosen with `broad`): every `lists` screen of every owner
/// refetches. Adding an `owner` arg would scope it (see the README).
#[mizan::function(merge = "list", affects = "lists", broad)]
async fn rename_list(cx: &Cx, list_id: u64, title: String) -> Result<ListInfo, Error> {
    let title = cleaned(&title, "title", MAX_TITLE)?;
    let mut data = cx.state::<Store>()?.lock();
    let renamed = data
        .lists
        .get_mut(&list_id)
        .ok_or_else(|| Error::not_found(format!("there is no list {list_id}")))?;
    renamed.title = title;
    Ok(renamed.info(list_id))
}

/// Function-level, and tier 1. `items` is a function, so the first entry
/// is `{"context":"list","fn":"items","params":{"list_id":..}}`: only that
/// slot changed (`list_id` is a param of `list`; `owner` is not). The
/// counts on the owner's `lists` screen changed too: `lists` is scoped by
/// `owner`.
#[mizan::function(affects = ["items", "lists"])]
async fn add_item(cx: &Cx, owner: String, list_id: u64, text: String) -> Result<Item, Error> {
    let text = cleaned(&text, "text", MAX_TEXT)?;
    let mut data = cx.state::<Store>()?.lock();
    if data.owned_list(&owner, list_id)?.items.len() >= MAX_ITEMS {
        return Err(Error::limit(format!("list {list_id} has {MAX_ITEMS} items already")));
    }
    data.last_item += 1;
    let item = Item {
        id: data.last_item,
        text,
        done: false,
    };
    data.owned_list(&owner, list_id)?.items.push(item.clone());
    Ok(item)
}

/// Marks an item done, or open again. The same entries as `add_item`.
#[mizan::function(affects = ["items", "lists"])]
async fn toggle_item(cx: &Cx, owner: String, list_id: u64, item_id: u64) -> Result<Item, Error> {
    let mut data = cx.state::<Store>()?.lock();
    let item = data
        .owned_list(&owner, list_id)?
        .items
        .iter_mut()
        .find(|i| i.id == item_id)
        .ok_or_else(|| Error::not_found(format!("list {list_id} has no item {item_id}")))?;
    item.done = !item.done;
    Ok(item.clone())
}

/// Two contexts, both tier 1: the owner's `lists`, and the `list` itself,
/// whose watchers refetch, get `not_found`, and close it.
#[mizan::function(affects = ["lists", "list"])]
async fn delete_list(cx: &Cx, owner: String, list_id: u64) -> Result<Deleted, Error> {
    let mut data = cx.state::<Store>()?.lock();
    data.owned_list(&owner, list_id)?;
    data.lists.remove(&list_id);
    Ok(Deleted { id: list_id })
}
