package facts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// AllSESRegions must be the SDK's own list of the commercial partition's SES
// v2 endpoints, so that an SDK upgrade that adds a Region fails here.
func TestAllSESRegionsMatchSDKEndpoints(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2/service/sesv2").Output()
	if err != nil {
		t.Fatalf("go list the sesv2 module: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "endpoints", "endpoints.go"))
	if err != nil {
		t.Fatal(err)
	}
	// The "aws" partition's block runs from its ID to the next partition's.
	text := string(src)
	start := strings.Index(text, `ID: "aws",`)
	if start < 0 {
		t.Fatal(`no ID: "aws" partition in the SDK's sesv2 endpoints.go`)
	}
	block := text[start+len(`ID: "aws",`):]
	if end := strings.Index(block, `ID: "aws-`); end >= 0 {
		block = block[:end]
	}
	var sdk []string
	for _, m := range regexp.MustCompile(`Region: "([a-z0-9-]+)"`).FindAllStringSubmatch(block, -1) {
		if r := m[1]; !strings.HasPrefix(r, "fips-") && !slices.Contains(sdk, r) {
			sdk = append(sdk, r)
		}
	}
	ours := slices.Clone(AllSESRegions)
	slices.Sort(ours)
	slices.Sort(sdk)
	if !slices.Equal(ours, sdk) {
		t.Errorf("AllSESRegions = %v\nthe SDK's aws-partition SES v2 endpoints = %v", ours, sdk)
	}
}
