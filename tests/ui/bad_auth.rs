use mizan::{Cx, Error};

#[mizan::function(auth = "admin")]
async fn purge(_cx: &Cx, user_id: i64) -> Result<i64, Error> {
    Ok(user_id)
}

#[mizan::function(auth = 1)]
async fn purge_all(_cx: &Cx) -> Result<(), Error> {
    Ok(())
}

fn main() {}
