package ruleset

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestFailureEnvelopeDoc: every failure-envelope field the decoder reads
// (wire's fields from Error up to the SES receiving ones) has a row in docs/failure-envelope.md.
func TestFailureEnvelopeDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/failure-envelope.md")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	// The envelope's fields run from Error to the SES receiving group
	// (Content), in wire's declaration order.
	in := false
	for f := range reflect.TypeFor[wire]().Fields() {
		in = in || f.Name == "Error"
		if f.Name == "Content" {
			break
		}
		if !in {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	if len(names) < 11 {
		t.Fatalf("envelope fields = %v", names)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("docs/failure-envelope.md has no row for %q", n)
		}
	}
}
