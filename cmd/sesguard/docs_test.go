package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// jsonNames are the JSON names of t's fields, prefix prepended, without
// the ones the contract leaves out (json:"-").
func jsonNames(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+name)
	}
	return out
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// documented reports the names that have no table row ("| `name` |") in doc.
func undocumented(doc string, names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.Contains(doc, "| `"+n+"` |") {
			out = append(out, n)
		}
	}
	return out
}

func TestDiagnosisDoc(t *testing.T) {
	doc := readDoc(t, "diagnosis.md")
	names := append(jsonNames(reflect.TypeFor[ruleset.Diagnosis](), ""), jsonNames(reflect.TypeFor[ruleset.Alternative](), "alternatives[].")...)
	if len(names) < 10 {
		t.Fatalf("found %d fields: %v", len(names), names)
	}
	if missing := undocumented(doc, names); len(missing) > 0 {
		t.Errorf("docs/diagnosis.md has no row for %v", missing)
	}
	for _, id := range []string{ruleset.RuleInvalid, ruleset.RuleUnknown, ruleset.RuleNotAFailure, ruleset.RuleSimulator} {
		if missing := undocumented(doc, []string{id}); len(missing) > 0 {
			t.Errorf("docs/diagnosis.md has no row for the outcome %q", id)
		}
	}
	// The printed JSON: confidence always present; no key the doc lacks.
	for _, in := range []string{"something weird happened", "554 5.0.0 something odd happened to user@example.com", notVerified} {
		_, out, _ := runCLI(t, in, "classify", "--json", "-")
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if _, ok := raw["confidence"]; !ok {
			t.Errorf("%q: no confidence in %s", in, out)
		}
		for k := range raw {
			if !slices.Contains(names, k) {
				t.Errorf("%q: key %q printed but not in docs/diagnosis.md", in, k)
			}
		}
	}
}

func TestFactsDoc(t *testing.T) {
	doc := readDoc(t, "facts.md")
	top := jsonNames(reflect.TypeFor[ruleset.Facts](), "")
	region := jsonNames(reflect.TypeFor[ruleset.RegionFacts](), "")
	if missing := undocumented(doc, append(top, region...)); len(missing) > 0 {
		t.Errorf("docs/facts.md has no row for %v", missing)
	}
	// checkFactsFile's allowed keys are the struct's, no more, no less.
	if !slices.Equal(slices.Sorted(slices.Values(region)), slices.Sorted(slices.Values(regionFactKeys))) {
		t.Errorf("regionFactKeys = %v, RegionFacts has %v", regionFactKeys, region)
	}
	// What `sesguard facts` writes is a file --facts reads.
	af := &ruleset.Facts{SendingRegion: "us-east-1", Regions: map[string]*ruleset.RegionFacts{"us-east-1": {
		ProductionAccess: ruleset.Bool(true), SendingEnabled: ruleset.Bool(true), EnforcementStatus: "HEALTHY",
		SuppressedReasons: []string{"BOUNCE"}, Identities: map[string]string{"a@example.com": "SUCCESS"}, Errors: []string{"x"}}}}
	data, _ := json.Marshal(af)
	if err := checkFactsFile(data); err != nil {
		t.Errorf("facts as written are refused: %v", err)
	}
}

// TestOperationsAlertSample: the sample alert in docs/operations.md is the
// rendering the alert tests pin (internal/alert/testdata/text-rate.txt).
func TestOperationsAlertSample(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join(root, "internal", "alert", "testdata", "text-rate.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if doc := readDoc(t, "operations.md"); !strings.Contains(doc, "```\n"+strings.TrimRight(string(golden), "\n")+"\n```") {
		t.Error("docs/operations.md's sample alert differs from internal/alert/testdata/text-rate.txt; copy it again")
	}
}
