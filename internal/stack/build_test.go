package stack_test

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/awslabs/goformation/v7"
)

// goformationLacks lists the properties goformation v7's schema does not
// know yet (it rejects unknown fields); they are checked from the plain
// YAML instead, in TestFunctionProperties.
var goformationLacks = []string{"LoggingConfig"}

// TestTemplateParsesWithGoformation keeps goformation (issue 15 asked
// whether internal/stack's own parsing could replace it): besides the
// properties checked below, goformation decodes every resource of a known
// type with DisallowUnknownFields, so a misspelt property anywhere in the
// template fails here, a schema check internal/stack does not make. Its
// price is a cold build cache's: about 25 s of CPU to compile it with -race.
func TestTemplateParsesWithGoformation(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		for _, p := range goformationLacks {
			delete(tpl.Resources[id].Properties, p)
		}
	}
	raw, err := json.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := goformation.ParseJSON(raw)
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	fns := cf.GetAllServerlessFunctionResources()
	if got, want := sortedKeys(fns), sortedKeys(functions); !slices.Equal(got, want) {
		t.Fatalf("functions in template = %v, code has %v", got, want)
	}
	for id, f := range fns {
		if f.Runtime == nil || *f.Runtime != "provided.al2023" {
			t.Errorf("%s: Runtime = %v, want provided.al2023", id, f.Runtime)
		}
		if !slices.Equal(f.Architectures, []string{"arm64"}) {
			t.Errorf("%s: Architectures = %v, want [arm64]", id, f.Architectures)
		}
		if f.Handler == nil || *f.Handler != "bootstrap" {
			t.Errorf("%s: Handler = %v, want bootstrap", id, f.Handler)
		}
		if f.CodeUri == nil || f.CodeUri.String == nil || *f.CodeUri.String != "." {
			t.Errorf("%s: CodeUri is not \".\" (the Makefile builds from the module root)", id)
		}
		if f.AWSCloudFormationMetadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, f.AWSCloudFormationMetadata["BuildMethod"])
		}
		if f.MemorySize == nil || *f.MemorySize < 128 || *f.MemorySize > 1024 {
			t.Errorf("%s: MemorySize = %v, want 128..1024 MB", id, f.MemorySize)
		}
		if f.Timeout == nil || *f.Timeout < 10 || *f.Timeout > 300 {
			t.Errorf("%s: Timeout = %v, want 10..300 s", id, f.Timeout)
		}
	}
}

func TestFunctionProperties(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		p := tpl.Resources[id].Properties
		if got, _ := p["LoggingConfig"].(map[string]any)["LogFormat"]; got != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat = %v, want JSON (functions log with slog's JSON handler)", id, got)
		}
		if _, ok := p["LoggingConfig"].(map[string]any)["LogGroup"]; !ok {
			t.Errorf("%s: LoggingConfig.LogGroup unset: the role's logs permissions are scoped to the stack's log group", id)
		}
	}
}

// TestMakefileBuildsEachFunction runs the build-<LogicalId> target sam
// build runs, and checks it leaves a linux/arm64 bootstrap in ARTIFACTS_DIR.
func TestMakefileBuildsEachFunction(t *testing.T) {
	root := repoRoot(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed to check the build targets sam build calls: %v", err)
	}
	for _, id := range loadTemplate(t).OfType("AWS::Serverless::Function") {
		// One after the other: on a cold build cache the second then
		// finds the AWS SDK compiled for arm64 by the first, where two at
		// once would each compile it.
		t.Run(id, func(t *testing.T) {
			target := "build-" + id
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).Match(makefile) {
				t.Fatalf("Makefile has no %s target (sam build calls it for BuildMethod: makefile)", target)
			}
			dir := t.TempDir()
			cmd := exec.Command(makeBin, "--no-print-directory", target, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", target, err, out)
			}
			bin := filepath.Join(dir, "bootstrap")
			st, err := os.Stat(bin)
			if err != nil {
				t.Fatalf("make %s left no bootstrap in ARTIFACTS_DIR: %v", target, err)
			}
			if st.Mode()&0o111 == 0 {
				t.Errorf("bootstrap is not executable (mode %v)", st.Mode())
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("bootstrap is not an ELF binary: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
				t.Errorf("bootstrap is %v/%v, want EM_AARCH64/ELFCLASS64 (Architectures: [arm64])", f.Machine, f.Class)
			}
			if f.Type != elf.ET_EXEC {
				t.Errorf("bootstrap ELF type = %v, want ET_EXEC (a static executable)", f.Type)
			}
			t.Logf("%s: bootstrap %d bytes", id, st.Size())
		})
	}
}
