use mizan::{Cx, Error};

#[mizan::function]
fn ping(_cx: &Cx) -> Result<String, Error> {
    Ok("pong".into())
}

// The stand-in const keeps uses of the name from adding errors.
fn main() {
    let _ = mizan::Function::from(ping);
}
