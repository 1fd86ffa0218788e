use mizan::{Cx, Error};

struct UserProfileArgs {
    user_id: i64,
}

#[mizan::function(context = "user")]
async fn user_profile(_cx: &Cx, args: UserProfileArgs) -> Result<i64, Error> {
    Ok(args.user_id)
}

fn main() {}
