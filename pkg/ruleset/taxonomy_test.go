package ruleset_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var taxonomyCell = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$`)

// taxonomyIDs reads the rule IDs from docs/taxonomy.md, the public contract:
// the first cell of each table row, which may list several IDs.
func taxonomyIDs(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "taxonomy.md"))
	if err != nil {
		t.Fatalf("read taxonomy: %v", err)
	}
	var ids []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cell := strings.TrimSpace(strings.Split(line[1:], "|")[0])
		for _, id := range strings.Split(cell, ",") {
			id = strings.Trim(strings.TrimSpace(id), "`")
			if taxonomyCell.MatchString(id) && id != "id" && (strings.Contains(id, ".") || id == "simulator" || id == "not-a-failure" || id == "unknown" || id == "invalid-input") {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) < 40 {
		t.Fatalf("taxonomy parse found only %d IDs", len(ids))
	}
	return ids
}
