use mizan::{Cx, Error};

#[mizan::function]
async fn greet(_cx: &Cx, name: &str) -> Result<String, Error> {
    Ok(format!("hello {name}"))
}

fn main() {}
