use mizan::{Cx, Error};

#[mizan::function]
async fn by_value(cx: Cx, user_id: i64) -> Result<String, Error> {
    Ok(format!("{} {user_id}", cx.node()))
}

#[mizan::function]
async fn args_first(user_id: i64, cx: &Cx) -> Result<String, Error> {
    Ok(format!("{} {user_id}", cx.node()))
}

fn main() {}
