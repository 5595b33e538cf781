package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// parseInterspersed parses flags that may come before or after the
// positional arguments (`diagnose "TEXT" --region x`), which the flag
// package alone does not allow.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sesguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sesguard %s\n\nflags:\n", commandSynopsis(name))
		fs.PrintDefaults()
	}
	return fs
}

// flagExit is the exit code for a flag parsing error: -h and --help asked
// for the help, which is not a usage error.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// commandSynopsis is name's entry in the usage text (its synopsis and
// what it does), so `sesguard help CMD` and `sesguard CMD -h` say the
// same as the command list.
func commandSynopsis(name string) string {
	var out []string
	in := false
	for _, line := range strings.Split(usage, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			in = line == "  "+name || strings.HasPrefix(line, "  "+name+" ")
			if in {
				line = strings.TrimPrefix(line, "  ")
			}
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return name
	}
	return strings.Join(out, "\n")
}

// loadSet builds the rule set with an operator's extra rules file, if any.
func loadSet(rulesPath string) (*ruleset.Set, error) {
	if rulesPath == "" {
		return ruleset.Default(), nil
	}
	data, err := ruleset.LoadFile(rulesPath)
	if err != nil {
		return nil, err
	}
	return ruleset.New(ruleset.RuleFile{Name: rulesPath, Data: data})
}

func loadFacts(path string) (*ruleset.Facts, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read facts: %w", err)
	}
	if err := checkFactsFile(data); err != nil {
		return nil, fmt.Errorf("--facts %s: %w", path, err)
	}
	f, err := ruleset.ParseFacts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
