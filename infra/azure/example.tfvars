name                = "acme"
location            = "westeurope"
resource_group_name = "rg-finops"
cost_scope          = "/subscriptions/00000000-0000-0000-0000-000000000000"
allowed_ip_ranges   = ["203.0.113.0/24"]
tags = {
  owner = "finops"
}
