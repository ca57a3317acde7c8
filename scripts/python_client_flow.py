"""A flow with the Python client that openapi-python-client generates from the
spec (issue 12), for scripts/contract-tools.sh: create, update with If-Match,
a stale If-Match (412, parsed as the error model), a 404, a list with sort and
search, a delete. NETWORK_URL, NETWORK_TOKEN, NETWORK_TENANT say where and who.
"""

import os

from network_api_client import AuthenticatedClient
from network_api_client.api.customers import (
    create_customer,
    delete_customer,
    get_customer,
    get_customers,
    update_customer,
)
from network_api_client.models import CustomerDetails, Error, GetCustomersSearchField

client = AuthenticatedClient(base_url=os.environ["NETWORK_URL"], token=os.environ["NETWORK_TOKEN"])
tenant = os.environ["NETWORK_TENANT"]

created = create_customer.sync_detailed(
    client=client, x_servitly_tenant=tenant, body=CustomerDetails(name="Python Flow Inc.")
)
assert created.status_code == 201, created
customer = created.parsed
etag = created.headers["etag"]
print(f"created {customer.id} (ETag {etag})")

updated = update_customer.sync_detailed(
    customer.id,
    client=client,
    x_servitly_tenant=tenant,
    if_match=etag,
    body=CustomerDetails.from_dict({"name": "Python Flow Italia", "country": "IT", "timezone": "Europe/Rome"}),
)
assert updated.status_code == 200, updated
assert updated.parsed.name == "Python Flow Italia", updated.parsed
new_etag = updated.headers["etag"]
assert new_etag != etag
print(f"updated with If-Match {etag}: ETag {new_etag}")

stale = update_customer.sync_detailed(
    customer.id, client=client, x_servitly_tenant=tenant, if_match=etag, body=CustomerDetails(name="Lost update")
)
assert stale.status_code == 412, stale
assert isinstance(stale.parsed, Error), stale.parsed
print(f"stale If-Match: 412, message {stale.parsed.message!r}")

missing = get_customer.sync_detailed("no-such-customer", client=client, x_servitly_tenant=tenant)
assert missing.status_code == 404 and isinstance(missing.parsed, Error), missing
print(f"unknown customer: 404, message {missing.parsed.message!r}")

page = get_customers.sync_detailed(
    client=client, x_servitly_tenant=tenant, sort=["name,ASC"], search_text="Python*",
    search_field=GetCustomersSearchField.NAME,
)
assert page.status_code == 200, page
assert [c.id for c in page.parsed.content] == [customer.id], page.parsed
print(f"list sorted by name, searching Python*: {page.parsed.total_elements} customer")

deleted = delete_customer.sync_detailed(customer.id, client=client, x_servitly_tenant=tenant, if_match=new_etag)
assert deleted.status_code == 204, deleted
again = get_customer.sync_detailed(customer.id, client=client, x_servitly_tenant=tenant)
assert again.status_code == 404, again
print("deleted with If-Match; reading it again: 404")
print("python client flow: ok")
