use mizan::{Cx, Error};

struct Profiles;

impl Profiles {
    #[mizan::function]
    async fn user_profile(&self, cx: &Cx, user_id: i64) -> Result<String, Error> {
        Ok(format!("{} {user_id}", cx.node()))
    }
}

fn main() {}
