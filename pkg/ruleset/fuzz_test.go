package ruleset_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// FuzzClassify feeds arbitrary bytes through decode+classify: any input must
// yield at least one diagnosis, each with a rule, and invalid-input must say
// what was wrong. Seeded from the corpus (`make fuzz` runs it for 60 s).
func FuzzClassify(f *testing.F) {
	root := filepath.Join("testdata", "corpus")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".expect") {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	set := ruleset.Default()
	facts, err := ruleset.ParseFacts([]byte(`{"sendingRegion":"us-east-1","regions":{"us-east-1":{"productionAccess":false,"identities":{"yourapp.com":"SUCCESS"}},"us-west-2":{"identities":{}}}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fs := range []*ruleset.Facts{nil, facts} {
			got := set.ClassifyBytes(data, fs, "fuzz")
			if len(got) == 0 {
				t.Fatalf("no diagnosis for %q", data)
			}
			for _, d := range got {
				if d.Rule == "" {
					t.Fatalf("empty rule for %q", data)
				}
				if d.Rule == ruleset.RuleInvalid && d.Error == "" {
					t.Fatalf("invalid-input without a reason for %q", data)
				}
				if d.Confidence < 0 || d.Confidence > 1 {
					t.Fatalf("confidence %v out of range", d.Confidence)
				}
			}
		}
	})
}
