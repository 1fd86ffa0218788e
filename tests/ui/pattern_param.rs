use mizan::{Cx, Error};

#[mizan::function]
async fn add(_cx: &Cx, (a, b): (i32, i32)) -> Result<i32, Error> {
    Ok(a + b)
}

fn main() {}
