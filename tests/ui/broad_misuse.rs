use mizan::{Cx, Error};

// `broad` is a flag, and it qualifies `affects`/`merge`.
#[mizan::function(affects = "user", broad = true)]
async fn valued(_cx: &Cx) -> Result<(), Error> {
    Ok(())
}

#[mizan::function(broad)]
async fn alone(_cx: &Cx) -> Result<(), Error> {
    Ok(())
}

fn main() {}
