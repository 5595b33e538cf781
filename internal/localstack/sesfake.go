package localstack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// SESFake answers the SES v2 calls the functions make, per Region, from a
// set of account facts. It stands in for kumo's SES v2 because kumo
// (v0.33.1) has no GetAccount and no PutSuppressedDestination, and keeps one
// set of identities for all Regions, so a Region mismatch could not be shown.
// The bootstraps reach it through AWS_ENDPOINT_URL_SESV2 — an HTTP fake is
// the only seam a real binary has. Region comes from the SigV4 credential
// scope, as SES itself routes by endpoint.
type SESFake struct {
	facts *ruleset.Facts // nil: every call is unsupported (facts unknown)

	mu         sync.Mutex
	suppressed []Suppression
	calls      map[string]int
	wiring     map[string]*SESWiring // per Region, for sesguard doctor (sesfake_doctor.go)
	// sending is each known configuration set's sending flag, by
	// "region/name" (SetConfigurationSets); kumo has GetConfigurationSet
	// but no PutConfigurationSetSendingOptions, so both are answered here.
	sending map[string]bool
	// sendingCalls are the PutConfigurationSetSendingOptions calls.
	sendingCalls []SendingChange
	// enforcement overrides the facts' EnforcementStatus per Region
	// (SetEnforcementStatus).
	enforcement map[string]string
}

// SendingChange is one PutConfigurationSetSendingOptions call.
type SendingChange struct {
	Region, ConfigurationSet string
	SendingEnabled           bool
}

// SetConfigurationSets makes names known configuration sets in region,
// sending enabled: GetConfigurationSet answers for them with their sending
// flag and PutConfigurationSetSendingOptions changes it.
func (f *SESFake) SetConfigurationSets(region string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sending == nil {
		f.sending = map[string]bool{}
	}
	for _, n := range names {
		f.sending[region+"/"+n] = true
	}
}

// SendingEnabled returns a known configuration set's sending flag (ok
// false for an unknown set).
func (f *SESFake) SendingEnabled(region, name string) (enabled, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	enabled, ok = f.sending[region+"/"+name]
	return enabled, ok
}

// SendingChanges returns the PutConfigurationSetSendingOptions calls, in
// order.
func (f *SESFake) SendingChanges() []SendingChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SendingChange(nil), f.sendingCalls...)
}

// SetEnforcementStatus changes what GetAccount says SES's enforcement
// status is in region (HEALTHY, PROBATION, SHUTDOWN): SES acting on the
// account, injected.
func (f *SESFake) SetEnforcementStatus(region, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enforcement == nil {
		f.enforcement = map[string]string{}
	}
	f.enforcement[region] = status
}

// Suppression is one PutSuppressedDestination call.
type Suppression struct {
	Region, Address, Reason string
}

// NewSESFake returns a fake answering from facts (nil: unknown).
func NewSESFake(facts *ruleset.Facts) *SESFake {
	return &SESFake{facts: facts, calls: map[string]int{}}
}

// Suppressions returns the PutSuppressedDestination calls, in order.
func (f *SESFake) Suppressions() []Suppression {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Suppression(nil), f.suppressed...)
}

// Calls returns the number of calls per operation.
func (f *SESFake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

var scopeRegion = regexp.MustCompile(`Credential=[^/]+/\d{8}/([a-z0-9-]+)/`)

func (f *SESFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	region := "us-east-1"
	if m := scopeRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	count := func(op string) {
		f.mu.Lock()
		f.calls[op]++
		f.mu.Unlock()
	}
	if f.serveDoctor(w, r, region, count) {
		return
	}
	var rf *ruleset.RegionFacts
	if f.facts != nil {
		rf = f.facts.Regions[region]
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account":
		count("GetAccount")
		if f.facts == nil {
			apiError(w, http.StatusNotImplemented, "NotImplemented", "GetAccount is not emulated without facts")
			return
		}
		if rf == nil {
			apiError(w, http.StatusForbidden, "AccessDeniedException", "Region "+region+" is not enabled for this account")
			return
		}
		status := rf.EnforcementStatus
		f.mu.Lock()
		if v, ok := f.enforcement[region]; ok {
			status = v
		}
		f.mu.Unlock()
		out := map[string]any{
			"ProductionAccessEnabled":      rf.ProductionAccess != nil && *rf.ProductionAccess,
			"SendingEnabled":               rf.SendingEnabled == nil || *rf.SendingEnabled,
			"EnforcementStatus":            status,
			"DedicatedIpAutoWarmupEnabled": false,
			"SuppressionAttributes":        map[string]any{"SuppressedReasons": nonNil(rf.SuppressedReasons)},
		}
		writeJSON(w, out)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/email/identities/"):
		count("GetEmailIdentity")
		if f.facts == nil {
			apiError(w, http.StatusNotImplemented, "NotImplemented", "GetEmailIdentity is not emulated without facts")
			return
		}
		id, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/v2/email/identities/"))
		status, ok := "", false
		if rf != nil {
			status, ok = rf.Identities[id]
		}
		if !ok {
			apiError(w, http.StatusNotFound, "NotFoundException", "Email identity "+id+" does not exist.")
			return
		}
		typ := "DOMAIN"
		if strings.Contains(id, "@") {
			typ = "EMAIL_ADDRESS"
		}
		writeJSON(w, map[string]any{"IdentityType": typ, "VerificationStatus": status,
			"VerifiedForSendingStatus": status == ruleset.StatusSuccess, "FeedbackForwardingStatus": true})
	case r.Method == http.MethodPut && r.URL.Path == "/v2/email/suppression/addresses":
		count("PutSuppressedDestination")
		var in struct{ EmailAddress, Reason string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.EmailAddress == "" {
			apiError(w, http.StatusBadRequest, "BadRequestException", "EmailAddress and Reason are required")
			return
		}
		if rf != nil && rf.ProductionAccess != nil && !*rf.ProductionAccess {
			apiError(w, http.StatusBadRequest, "BadRequestException", "account is in the sandbox in "+region)
			return
		}
		f.mu.Lock()
		f.suppressed = append(f.suppressed, Suppression{Region: region, Address: in.EmailAddress, Reason: in.Reason})
		f.mu.Unlock()
		writeJSON(w, map[string]any{})
	case strings.HasPrefix(r.URL.Path, "/v2/email/configuration-sets/") && f.serveConfigSet(w, r, region, count):
	default:
		count("other")
		apiError(w, http.StatusNotImplemented, "NotImplemented", r.Method+" "+r.URL.Path+" is not emulated")
	}
}

// serveConfigSet answers GetConfigurationSet and
// PutConfigurationSetSendingOptions for the sets SetConfigurationSets made
// known; it returns false for anything else (not emulated, as before).
func (f *SESFake) serveConfigSet(w http.ResponseWriter, r *http.Request, region string, count func(string)) bool {
	rest, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/v2/email/configuration-sets/"))
	name, sub, _ := strings.Cut(rest, "/")
	f.mu.Lock()
	known := f.sending != nil
	enabled, ok := f.sending[region+"/"+name]
	f.mu.Unlock()
	if !known {
		return false
	}
	switch {
	case r.Method == http.MethodGet && sub == "":
		count("GetConfigurationSet")
		if !ok {
			apiError(w, http.StatusNotFound, "NotFoundException", "Configuration set <"+name+"> does not exist.")
			return true
		}
		writeJSON(w, map[string]any{"ConfigurationSetName": name, "SendingOptions": map[string]any{"SendingEnabled": enabled},
			"ReputationOptions": map[string]any{"ReputationMetricsEnabled": true}})
	case r.Method == http.MethodPut && sub == "sending":
		count("PutConfigurationSetSendingOptions")
		if !ok {
			apiError(w, http.StatusNotFound, "NotFoundException", "Configuration set <"+name+"> does not exist.")
			return true
		}
		var in struct{ SendingEnabled *bool }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiError(w, http.StatusBadRequest, "BadRequestException", "the request body is not JSON: "+err.Error())
			return true
		}
		// SES's API: an absent SendingEnabled means false.
		on := in.SendingEnabled != nil && *in.SendingEnabled
		f.mu.Lock()
		f.sending[region+"/"+name] = on
		f.sendingCalls = append(f.sendingCalls, SendingChange{Region: region, ConfigurationSet: name, SendingEnabled: on})
		f.mu.Unlock()
		writeJSON(w, map[string]any{})
	default:
		return false
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
