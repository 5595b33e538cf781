package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// identityStatuses are the values an identity may have in a facts file:
// SES's VerificationStatus.
var identityStatuses = []string{ruleset.StatusSuccess, ruleset.StatusPending, ruleset.StatusFailed,
	ruleset.StatusTemporaryFailure, ruleset.StatusNotStarted}

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// checkFactsFile says what is wrong with data as an account-facts file
// (docs/facts.md), naming the key at fault, or returns nil. ParseFacts
// alone accepts any JSON object (every field is optional), so a Diagnosis
// JSON or a rules file given by mistake would silently mean "no facts".
func checkFactsFile(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("not an account-facts file: the top level must be a JSON object with \"regions\", not a JSON %s", te.Value)
		}
		return fmt.Errorf("not an account-facts file: not JSON: %v", err)
	}
	if err := onlyKeys("not an account-facts file: top level", top, "sendingRegion", "regions"); err != nil {
		return err
	}
	raw, ok := top["regions"]
	if !ok {
		return errors.New(`not an account-facts file: no "regions" object (see docs/facts.md; "sesguard facts" writes one)`)
	}
	var regions map[string]json.RawMessage
	if err := json.Unmarshal(raw, &regions); err != nil || regions == nil {
		return errors.New(`"regions": must be an object mapping Region names to that Region's facts`)
	}
	for _, r := range sortedKeys(regions) {
		if !regionName.MatchString(ruleset.NormaliseRegion(r)) {
			return fmt.Errorf("\"regions\": %q is not a Region name such as us-east-1", r)
		}
		var rf map[string]json.RawMessage
		if err := json.Unmarshal(regions[r], &rf); err != nil || rf == nil {
			return fmt.Errorf("\"regions\".%q: must be an object", r)
		}
		if err := onlyKeys(fmt.Sprintf("\"regions\".%q", r), rf, regionFactKeys...); err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(regions[r]))
		dec.DisallowUnknownFields()
		var typed ruleset.RegionFacts
		if err := dec.Decode(&typed); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("\"regions\".%q: %v", r, strings.TrimPrefix(err.Error(), "json: "))
		}
		for id, st := range typed.Identities {
			if !slices.Contains(identityStatuses, st) {
				return fmt.Errorf("\"regions\".%q.identities.%q: status %q is not one of %s", r, id, st, strings.Join(identityStatuses, ", "))
			}
		}
	}
	return nil
}

// regionFactKeys are RegionFacts' JSON names (a test checks them against
// the struct and docs/facts.md).
var regionFactKeys = []string{"productionAccess", "sendingEnabled", "enforcementStatus", "suppressedReasons", "identities", "errors"}

func onlyKeys(where string, m map[string]json.RawMessage, allowed ...string) error {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown key %q (allowed: %s)", where, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
