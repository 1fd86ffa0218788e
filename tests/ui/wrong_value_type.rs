use mizan::{Cx, Error};

#[mizan::function(context = 5)]
async fn user_profile(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

#[mizan::function(affects = [1])]
async fn update_profile(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

#[mizan::function(merge)]
async fn rename_user(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

fn main() {}
