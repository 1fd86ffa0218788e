use mizan::Cx;

#[mizan::function]
async fn ping(_cx: &Cx) -> Result<String, std::io::Error> {
    Ok("pong".into())
}

fn main() {}
