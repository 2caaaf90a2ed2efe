package datasets_test

import (
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

func TestGitclubPolicyParsesAndCompiles(t *testing.T) {
	f, err := polar.Parse(datasets.PolicyFilename, datasets.GitclubPolicy)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, err := polar.Compile([]*polar.File{f}, polar.CompileOptions{}); err != nil {
		t.Fatalf("compile: %v", err)
	}
}
