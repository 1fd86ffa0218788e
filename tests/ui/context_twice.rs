use mizan::{Cx, Error};

#[mizan::function(context = "user", context = "profile")]
async fn user_profile(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

fn main() {}
