f(x) if x isa User;
