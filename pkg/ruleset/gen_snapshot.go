//go:build ignore

// Command gen_snapshot writes rules_snapshot.go, the rule set compiled
// into Go data, from the embedded rules/*.yaml. go generate ./pkg/ruleset
// runs it (with -tags rulesetgen, which adds ruleset.SnapshotSource);
// TestEmbeddedSnapshot fails until it has run after a YAML edit.
package main

import (
	"fmt"
	"os"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func main() {
	src, err := ruleset.SnapshotSource()
	if err == nil {
		err = os.WriteFile("rules_snapshot.go", src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen_snapshot:", err)
		os.Exit(1)
	}
}
