package main

import (
	"flag"
	"fmt"
	"io"
	"os"

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
	return fs
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
	f, err := ruleset.ParseFacts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
