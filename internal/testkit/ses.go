package testkit

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// Name turns the test's name into something usable as a domain label,
// topic or queue name. kumo's resources are shared by the whole process,
// so tests keep apart by their names.
func Name(t testing.TB) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name()))
}

// CreateIdentities creates SES identities through c (a client for kumo)
// and deletes them when the test ends.
func CreateIdentities(t testing.TB, c *sesv2.Client, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := c.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(id)}); err != nil {
			t.Fatalf("create identity %q in kumo: %v", id, err)
		}
		t.Cleanup(func() {
			if _, err := c.DeleteEmailIdentity(context.Background(), &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(id)}); err != nil {
				t.Errorf("delete identity %q in kumo: %v", id, err)
			}
		})
	}
}

// WithAccount is an SES v2 client (kumo's, or nil when only GetAccount is
// called) with GetAccount faked at the consumer's interface: kumo v0.33.1
// has no GetAccount route (it answers 404).
type WithAccount struct {
	*sesv2.Client
	Account *sesv2.GetAccountOutput
}

// GetAccount returns w.Account.
func (w WithAccount) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return w.Account, nil
}

// Account is a GetAccount answer for a healthy account, out of the
// sandbox if production, with SES's own suppression on for reasons.
func Account(production bool, reasons ...types.SuppressionListReason) *sesv2.GetAccountOutput {
	return &sesv2.GetAccountOutput{
		ProductionAccessEnabled: production,
		SendingEnabled:          true,
		EnforcementStatus:       aws.String("HEALTHY"),
		SuppressionAttributes:   &types.SuppressionAttributes{SuppressedReasons: reasons},
	}
}

// SES returns an SES v2 client for the emulator at url in region (kumo
// ignores the Region: clients for different Regions see the same
// identities).
func SES(url, region string) *sesv2.Client {
	cfg := ConfigFor(url)
	cfg.Region = region
	return sesv2.NewFromConfig(cfg)
}
