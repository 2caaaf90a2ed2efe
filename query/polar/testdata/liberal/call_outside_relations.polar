# W006: a custom rule calls has_relation on a pair of types that no
# relations entry names (Oso's Entitlements pattern: a plan "subscribed" to
# an organization, while the only relations entry is a feature's plan).
# Oso infers fact types from use as well as from declarations, so the
# policy loads with a warning and such facts are admitted.
actor Person {}

resource Company {
  roles = ["staff"];
  permissions = ["project.create"];
}

resource Tier {}

resource Capability {
  relations = { tier: Tier };
}

has_permission(p: Person, "project.create", c: Company) if
  has_role(p, "staff", c) and
  under_limit(c, Capability{"projects"});

under_limit(c: Company, cap: Capability) if
  limit matches Integer and
  tier matches Tier and
  has_relation(tier, "subscribed", c) and
  tier_limit(tier, cap, limit) and
  used matches Integer and
  usage(c, cap, used) and
  used < limit;

declare tier_limit(Tier, Capability, Integer);
declare usage(Company, Capability, Integer);

tier_limit(Tier{"gold"}, Capability{"projects"}, 3);
tier_limit(Tier{"free"}, Capability{"projects"}, 0);

test "staff may create projects while their tier's limit is not reached" {
  setup {
    has_relation(Tier{"gold"}, "subscribed", Company{"north"});
    has_relation(Tier{"gold"}, "subscribed", Company{"south"});
    has_relation(Tier{"free"}, "subscribed", Company{"west"});
    usage(Company{"north"}, Capability{"projects"}, 2);
    usage(Company{"south"}, Capability{"projects"}, 3);
    usage(Company{"west"}, Capability{"projects"}, 0);
    has_role(Person{"ana"}, "staff", Company{"north"});
    has_role(Person{"ben"}, "staff", Company{"south"});
    has_role(Person{"cy"}, "staff", Company{"west"});
  }
  assert allow(Person{"ana"}, "project.create", Company{"north"});
  assert_not allow(Person{"ben"}, "project.create", Company{"south"});
  assert_not allow(Person{"cy"}, "project.create", Company{"west"});
}
