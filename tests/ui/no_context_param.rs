use mizan::Error;

#[mizan::function]
async fn ping() -> Result<String, Error> {
    Ok("pong".into())
}

fn main() {}
