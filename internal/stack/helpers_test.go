package stack_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/internal/triage"
)

// codeSide is what a function's code declares about itself.
type codeSide struct {
	env, actions []string
}

// functions maps each function in template.yaml to its code's lists.
var functions = map[string]codeSide{
	"TriageFunction":      {triage.EnvVars, triage.IAMActions},
	"BouncewatchFunction": {bouncewatch.EnvVars, bouncewatch.IAMActions},
}

// Parameter sets the template is checked with: the defaults, and every
// optional feature switched on (with an existing configuration set).
var paramSets = map[string]map[string]string{
	"defaults": {},
	"all-on": {
		"AlertEmail":             "ops@example.com",
		"SlackWebhookSecretArn":  "arn:aws:secretsmanager:us-east-1:123456789012:secret:sesguard-slack-AbCdEf",
		"SlackWorkspaceId":       "T0123ABCD",
		"SlackChannelId":         "C0123456789",
		"CreateConfigurationSet": "false",
		"SuppressMode":           "always",
	},
	"suppress-off":       {"SuppressMode": "off"},
	"auto-pause-on":      {"AutoPause": "on"},
	"auto-pause-dry-run": {"AutoPause": "dry-run"},
}

// repoRoot is the module root (where template.yaml and the Makefile live).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func loadTemplate(t *testing.T) *stack.Template {
	t.Helper()
	tpl, err := stack.Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func resolved(t *testing.T, params map[string]string) *stack.Template {
	t.Helper()
	r, err := loadTemplate(t).Resolve(params)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// forEachParamSet runs f on the template resolved with each parameter set.
func forEachParamSet(t *testing.T, f func(t *testing.T, tpl *stack.Template)) {
	names := make([]string, 0, len(paramSets))
	for n := range paramSets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) { f(t, resolved(t, paramSets[n])) })
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// diff returns the elements of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func props(t *testing.T, tpl *stack.Template, id string) map[string]any {
	t.Helper()
	r, ok := tpl.Resources[id]
	if !ok {
		t.Fatalf("template has no resource %s", id)
	}
	return r.Properties
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }
