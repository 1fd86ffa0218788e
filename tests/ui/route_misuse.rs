use mizan::{Cx, Error};

#[mizan::function(route = "/profile/{id}", context = "user")]
async fn page_with_context(_cx: &Cx, id: i64) -> Result<String, Error> {
    Ok(id.to_string())
}

#[mizan::function(route = "profile")]
async fn relative_route(_cx: &Cx) -> Result<String, Error> {
    Ok(String::new())
}

fn main() {}
