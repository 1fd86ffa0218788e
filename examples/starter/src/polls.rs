//! The polls, the votes, and the server functions over them.

use mizan::{Cx, Error};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Every poll and every vote, in memory: `.state(Store::default())`.
#[derive(Default)]
pub struct Store(Mutex<Data>);

#[derive(Default)]
struct Data {
    /// By id, so they list in creation order.
    polls: BTreeMap<u64, Poll>,
}

struct Poll {
    question: String,
    options: Vec<String>,
    /// Who voted for which option (an index into `options`).
    votes: BTreeMap<String, usize>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One row of the poll list.
#[derive(Serialize, JsonSchema)]
pub struct PollSummary {
    pub id: u64,
    pub question: String,
}

/// A poll with its options and their vote counts.
#[derive(Serialize, JsonSchema)]
pub struct PollView {
    pub id: u64,
    pub question: String,
    pub options: Vec<OptionView>,
}

#[derive(Serialize, JsonSchema)]
pub struct OptionView {
    pub text: String,
    pub votes: usize,
}

/// One of the signed-in user's votes.
#[derive(Serialize, JsonSchema)]
pub struct MyVote {
    pub poll_id: u64,
    pub question: String,
    /// The index of the option voted for.
    pub option: usize,
    pub text: String,
}

/// `text` trimmed, if that leaves 1 to `max` characters.
fn cleaned(text: &str, what: &str, max: usize) -> Result<String, Error> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(Error::invalid_args(format!("a {what} is 1-{max} characters")));
    }
    Ok(text.to_owned())
}

// ------------------------------------------------------------ reads

/// Every poll, oldest first.
#[mizan::function(context = "polls")]
pub async fn polls(cx: &Cx) -> Result<Vec<PollSummary>, Error> {
    let data = cx.state::<Store>()?.lock();
    Ok(data
        .polls
        .iter()
        .map(|(&id, p)| PollSummary {
            id,
            question: p.question.clone(),
        })
        .collect())
}

/// One poll and its vote counts.
#[mizan::function(context = "poll")]
pub async fn poll(cx: &Cx, poll_id: u64) -> Result<PollView, Error> {
    let data = cx.state::<Store>()?.lock();
    let p = data
        .polls
        .get(&poll_id)
        .ok_or_else(|| Error::not_found(format!("there is no poll {poll_id}")))?;
    let options = p
        .options
        .iter()
        .enumerate()
        .map(|(i, text)| OptionView {
            text: text.clone(),
            votes: p.votes.values().filter(|&&v| v == i).count(),
        })
        .collect();
    Ok(PollView {
        id: poll_id,
        question: p.question.clone(),
        options,
    })
}

/// The signed-in user's votes. `per_user`: each user has their own data
/// here, so it needs a user, and what a vote changes reaches only the voter.
#[mizan::function(context = "my_votes", per_user)]
pub async fn my_votes(cx: &Cx) -> Result<Vec<MyVote>, Error> {
    let user = cx.user().ok_or_else(|| Error::unauthenticated("sign in to see your votes"))?;
    let data = cx.state::<Store>()?.lock();
    Ok(data
        .polls
        .iter()
        .filter_map(|(&poll_id, p)| {
            let &option = p.votes.get(&user.id)?;
            Some(MyVote {
                poll_id,
                question: p.question.clone(),
                option,
                text: p.options[option].clone(),
            })
        })
        .collect())
}

// ------------------------------------------------------------ mutations

/// Creates a poll with 2 to 8 options. `polls` has no params, so every
/// screen showing the list refetches it.
#[mizan::function(affects = "polls")]
pub async fn create_poll(cx: &Cx, question: String, options: Vec<String>) -> Result<PollSummary, Error> {
    let question = cleaned(&question, "question", 200)?;
    let options = options
        .iter()
        .map(|o| cleaned(o, "option", 80))
        .collect::<Result<Vec<_>, _>>()?;
    if !(2..=8).contains(&options.len()) {
        return Err(Error::invalid_args("a poll has 2 to 8 options"));
    }
    let mut data = cx.state::<Store>()?.lock();
    if data.polls.len() >= 1000 {
        return Err(Error::limit("there are 1000 polls already"));
    }
    let id = data.polls.keys().next_back().map_or(1, |last| last + 1);
    let summary = PollSummary {
        id,
        question: question.clone(),
    };
    let votes = BTreeMap::new();
    data.polls.insert(id, Poll { question, options, votes });
    Ok(summary)
}

/// Votes for an option (again: moves the vote). The arg `poll_id` is the
/// param of `poll`, so only the screens watching this poll refetch it; and
/// `my_votes` is per-user, so only the voter's "my votes" refetches.
#[mizan::function(auth = "user", affects = ["poll", "my_votes"])]
pub async fn vote(cx: &Cx, poll_id: u64, option: usize) -> Result<MyVote, Error> {
    let user = cx.user().ok_or_else(|| Error::unauthenticated("sign in to vote"))?;
    let mut data = cx.state::<Store>()?.lock();
    let p = data
        .polls
        .get_mut(&poll_id)
        .ok_or_else(|| Error::not_found(format!("there is no poll {poll_id}")))?;
    let text = p
        .options
        .get(option)
        .ok_or_else(|| Error::invalid_args(format!("poll {poll_id} has no option {option}")))?
        .clone();
    p.votes.insert(user.id.clone(), option);
    Ok(MyVote {
        poll_id,
        question: p.question.clone(),
        option,
        text,
    })
}
