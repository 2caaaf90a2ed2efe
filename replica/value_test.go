package replica

import "testing"

func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want Value }{
		{Value{"Integer", "+007"}, Value{"Integer", "7"}},
		{Value{"Integer", "-0"}, Value{"Integer", "0"}},
		{Value{"Boolean", "true"}, Value{"Boolean", "true"}},
		{Value{"Boolean", "True"}, Value{"Boolean", "true"}}, // .NET's bool.ToString()
		{Value{"Boolean", "FALSE"}, Value{"Boolean", "false"}},
		{Value{"User", "Alice "}, Value{"User", "Alice "}},
	} {
		got, err := Canonical(c.in)
		if err != nil || got != c.want {
			t.Errorf("Canonical(%v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []Value{{"", "x"}, {"User", ""}, {"Boolean", "yes"}, {"Boolean", "1"}, {"Integer", "1.5"},
		{"Integer", "99999999999999999999"}, {"User", string(make([]byte, MaxIDBytes+1))}} {
		if got, err := Canonical(in); err == nil {
			t.Errorf("Canonical(%.40v) = %v, want an error", in, got)
		}
	}
}
