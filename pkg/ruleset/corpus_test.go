package ruleset_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// corpusCase is one file under testdata/corpus/<expected rule>/.
type corpusCase struct {
	name   string // rule-dir/file
	path   string
	want   []string // expected rules, in diagnosis order (first only without .expect)
	facts  *ruleset.Facts
	input  []byte
	expect bool // an .expect file lists every diagnosis
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	root := filepath.Join("testdata", "corpus")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	var cases []corpusCase
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := f.Name()
			if strings.HasSuffix(name, ".facts.json") || strings.HasSuffix(name, ".expect") || f.IsDir() {
				continue
			}
			ext := filepath.Ext(name)
			if ext != ".json" && ext != ".txt" {
				continue
			}
			base := strings.TrimSuffix(name, ext)
			path := filepath.Join(root, d.Name(), name)
			c := corpusCase{name: d.Name() + "/" + name, path: path, want: []string{d.Name()}}
			if c.input, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(filepath.Join(root, d.Name(), base+".facts.json")); err == nil {
				if c.facts, err = ruleset.ParseFacts(data); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			if data, err := os.ReadFile(filepath.Join(root, d.Name(), base+".expect")); err == nil {
				c.want, c.expect = nil, true
				sc := bufio.NewScanner(bytes.NewReader(data))
				for sc.Scan() {
					if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
						c.want = append(c.want, line)
					}
				}
				if len(c.want) == 0 || c.want[0] != d.Name() {
					t.Errorf("%s: .expect must start with the directory's rule %s", c.name, d.Name())
				}
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// TestCorpus walks testdata/corpus: each case's first diagnosis must carry
// the rule its directory names (every diagnosis, with an .expect file).
func TestCorpus(t *testing.T) {
	set := ruleset.Default()
	cases := loadCorpus(t)
	counts := map[string]int{}
	failed := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := set.ClassifyBytes(c.input, c.facts, c.name)
			if len(got) == 0 {
				t.Fatalf("no diagnosis")
			}
			var rules []string
			for _, d := range got {
				rules = append(rules, d.Rule)
			}
			if c.expect {
				if strings.Join(rules, ",") != strings.Join(c.want, ",") {
					failed++
					t.Errorf("rules = %v, want %v\nfirst: %+v", rules, c.want, got[0])
				}
			} else if rules[0] != c.want[0] {
				failed++
				t.Errorf("rule = %s, want %s (alternatives %v)\nsummary: %s\nevidence: %q\nerror: %s", rules[0], c.want[0], got[0].Alternatives, got[0].Summary, got[0].Evidence, got[0].Error)
			}
			for _, d := range got {
				if d.Rule == ruleset.RuleInvalid && d.Error == "" {
					t.Errorf("invalid-input without an error")
				}
				if d.Rule != ruleset.RuleInvalid && d.Rule != ruleset.RuleNotAFailure && d.Summary == "" {
					t.Errorf("%s without a summary", d.Rule)
				}
				if strings.HasPrefix(d.Rule, "reject.") && strings.Contains(strings.Join(d.Fix, " "), "--region <region>") && d.Region != "" {
					t.Errorf("fix has an unfilled region although the diagnosis knows it: %q", d.Fix)
				}
			}
		})
		counts[c.want[0]]++
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "  %-40s %3d\n", id, counts[id])
	}
	t.Logf("corpus: %d cases, %d rule IDs, %d failed\n%s", len(cases), len(ids), failed, b.String())
}

// TestCorpusCoversTaxonomy checks every taxonomy ID has corpus cases and a
// rule (or is an outcome the engine produces itself).
func TestCorpusCoversTaxonomy(t *testing.T) {
	ids := taxonomyIDs(t)
	cases := loadCorpus(t)
	have := map[string]int{}
	for _, c := range cases {
		have[c.want[0]]++
	}
	if len(cases) < 150 {
		t.Errorf("corpus has %d cases, want at least 150", len(cases))
	}
	rules := map[string]bool{}
	for _, id := range ruleset.Default().RuleIDs() {
		rules[id] = true
	}
	for _, id := range ids {
		if have[id] == 0 {
			t.Errorf("taxonomy ID %s has no corpus case", id)
		}
		switch id {
		case ruleset.RuleInvalid, ruleset.RuleUnknown, ruleset.RuleNotAFailure:
			continue
		}
		if !rules[id] {
			t.Errorf("taxonomy ID %s has no rule", id)
		}
	}
	for id := range rules {
		found := false
		for _, t := range ids {
			found = found || t == id
		}
		if !found {
			t.Errorf("rule %s is not in the taxonomy (../shared/taxonomy.md or docs/taxonomy.md)", id)
		}
	}
}
