package ruleset_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// TestRuleFileErrorsInWords: what yaml would report as "EOF" or with a Go
// type name is said in the file's terms, naming the allowed keys.
func TestRuleFileErrorsInWords(t *testing.T) {
	for file, want := range map[string][]string{
		"bad-empty.yaml":       {"bad-empty.yaml: the file is empty", `"rules:"`},
		"bad-top-key.yaml":     {`bad-top-key.yaml:2: unknown top-level key "version" (allowed: rules)`},
		"bad-unknown-key.yaml": {`unknown key "phrazes" (allowed: `, "phrases", "severity"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "rules", file))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ruleset.New(ruleset.RuleFile{Name: file, Data: data})
		if err == nil {
			t.Fatalf("%s: loaded", file)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error = %q, want it to contain %q", file, err, w)
			}
		}
		for _, bad := range []string{"EOF", "ruleset.", "not found in type"} {
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: error = %q speaks Go (%q)", file, err, bad)
			}
		}
	}
}
