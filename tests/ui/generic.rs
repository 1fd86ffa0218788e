use mizan::{Cx, Error};

#[mizan::function]
async fn echo<T: Clone>(_cx: &Cx, value: T) -> Result<T, Error> {
    Ok(value)
}

#[mizan::function]
async fn echo_where(_cx: &Cx, value: String) -> Result<String, Error>
where
    String: Clone,
{
    Ok(value)
}

fn main() {}
