package ruleset

import (
	"reflect"
	"slices"
	"testing"
)

// TestEmbeddedSnapshot fails while the compiled-in snapshot is stale: not
// generated from the embedded rules/*.yaml as they are (go generate
// ./pkg/ruleset runs gen_snapshot.go). That its contents are the YAML's is
// TestSnapshotSameAsYAML's.
func TestEmbeddedSnapshot(t *testing.T) {
	files, err := embeddedFiles()
	if err != nil {
		t.Fatal(err)
	}
	if snapshot.digest != rulesDigest(files) || len(snapshot.specs) == 0 {
		t.Fatalf("rules_snapshot.go is stale or missing (rules/*.yaml changed?): run `go generate ./pkg/ruleset`")
	}
}

// TestSnapshotSameAsYAML is the differential test of the two load paths:
// the specs from the snapshot must equal the specs parsed from the YAML,
// down to the unexported fields, and so must the Sets built from them.
func TestSnapshotSameAsYAML(t *testing.T) {
	files, err := embeddedFiles()
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := parseFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	fromSnap, err := specsOf(files, snapshot.digest, snapshot.specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromSnap) != len(fromYAML) {
		t.Fatalf("snapshot has %d rules, YAML %d", len(fromSnap), len(fromYAML))
	}
	for i := range fromYAML {
		if !reflect.DeepEqual(comparable(fromSnap[i]), comparable(fromYAML[i])) {
			t.Errorf("rule %d (%s): snapshot\n%+v\nYAML\n%+v", i, fromYAML[i].ID, fromSnap[i], fromYAML[i])
		}
	}
	a, b := compileSpecs(fromSnap), compileSpecs(fromYAML)
	if a.phrases != snapshot.matcher || b.phrases != snapshot.matcher {
		t.Errorf("the snapshot's phrase automaton is not used")
	}
	if !slices.Equal(phrasesOf(b), snapshot.phrases) {
		t.Errorf("the snapshot's phrases are not the YAML's")
	}
	if built := newPhraseMatcher(phrasesOf(b)); !reflect.DeepEqual(built, snapshot.matcher) {
		t.Errorf("the snapshot's phrase automaton differs from one built now")
	}
	for i := range a.rules {
		ra, rb := *a.rules[i], *b.rules[i]
		ra.spec, rb.spec = ruleSpec{}, ruleSpec{}
		ra.regexps, rb.regexps = nil, nil // funcs: compared with the specs above
		ra.facts, rb.facts = nil, nil     // funcs: DeepEqual only says nil == nil
		if !reflect.DeepEqual(ra, rb) {
			t.Errorf("compiled rule %d differs", i)
		}
	}
}

// comparable replaces compiled regexps by their source for DeepEqual.
func comparable(s ruleSpec) any {
	var p, ip []string
	if s.regexps != nil {
		res := s.regexps()
		for _, r := range res.patterns {
			p = append(p, r.String())
		}
		for _, r := range res.identity {
			ip = append(ip, r.String())
		}
	}
	hasRegexps := s.regexps != nil
	s.regexps = nil
	return struct {
		S     ruleSpec
		R     bool
		P, IP []string
	}{s, hasRegexps, p, ip}
}

// TestStaleSnapshotFallsBack: a snapshot generated from other files is
// ignored, and so is none.
func TestStaleSnapshotFallsBack(t *testing.T) {
	files, err := embeddedFiles()
	if err != nil {
		t.Fatal(err)
	}
	fake := []ruleSpec{{ID: "fake.rule"}}
	for _, digest := range []uint32{rulesDigest(files) + 1, 0} {
		specs, err := specsOf(files, digest, fake)
		if err != nil {
			t.Fatal(err)
		}
		if len(specs) < 10 || specs[0].ID == "fake.rule" {
			t.Errorf("digest %#x: stale snapshot used", digest)
		}
	}
	specs, err := specsOf(files, rulesDigest(files), fake)
	if err != nil || len(specs) != 1 || specs[0].ID != "fake.rule" {
		t.Errorf("fresh snapshot not used: %v %v", specs, err)
	}
	specs, err = specsOf(files, rulesDigest(files), nil)
	if err != nil || len(specs) < 10 {
		t.Errorf("no snapshot: %d specs, %v", len(specs), err)
	}
	if rulesDigest(files) == rulesDigest(append(files[:len(files):len(files)], RuleFile{Name: "x.yaml"})) {
		t.Errorf("digest ignores an added file")
	}
}
