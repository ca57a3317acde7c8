//! Prints the OpenAPI document that the generated trait yields (for eyeballing
//! differences with `openapi/network.json`): `cargo run -p network-api --example dump_trait_spec`.

fn main() {
    let description =
        network_api::network_api_mod::stub_api_description().expect("the trait is valid");
    let spec = description.openapi("Network API", dropshot::semver::Version::new(1, 0, 0));
    println!(
        "{}",
        serde_json::to_string_pretty(&spec.json().expect("serializes")).expect("prints")
    );
}
