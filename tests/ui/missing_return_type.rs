use mizan::Cx;

#[mizan::function(affects = "user")]
async fn touch(_cx: &Cx, user_id: i64) {
    let _ = user_id;
}

fn main() {}
