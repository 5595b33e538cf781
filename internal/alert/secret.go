package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsGetter is the part of *secretsmanager.Client LoadWebhookURL uses.
type SecretsGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadWebhookURL reads the Slack webhook URL once, at cold start. ref is a
// Secrets Manager secret name or ARN. The stored value is either the URL
// itself or JSON with a "url" or "webhookUrl" key. The URL is validated with
// ValidateWebhookURL. Neither the URL nor the stored value appears in
// returned errors. (Secrets Manager only: linking the SSM client as well
// would add its package initialisation to every cold start.)
func LoadWebhookURL(ctx context.Context, ref string, sm SecretsGetter) (string, error) {
	ref = strings.TrimSpace(ref)
	switch {
	case ref == "":
		return "", errors.New("load Slack webhook URL: empty secret reference")
	case strings.Contains(ref, "://"):
		// Someone put the URL itself where its secret's name belongs: refuse
		// without echoing it.
		return "", errors.New("load Slack webhook URL: the reference looks like a URL; give the name or ARN of the secret that holds it")
	}
	var raw string
	where := "secret " + ref
	if sm == nil {
		return "", fmt.Errorf("load Slack webhook URL from %s: no Secrets Manager client", where)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref)})
	if err != nil {
		return "", fmt.Errorf("load Slack webhook URL from %s: %w", where, err)
	}
	switch {
	case out.SecretString != nil:
		raw = *out.SecretString
	case len(out.SecretBinary) > 0:
		raw = string(out.SecretBinary)
	default:
		return "", fmt.Errorf("load Slack webhook URL from %s: secret has no value", where)
	}

	u, err := webhookFromValue(raw)
	if err != nil {
		return "", fmt.Errorf("load Slack webhook URL from %s: %w", where, err)
	}
	if err := ValidateWebhookURL(u); err != nil {
		return "", fmt.Errorf("load Slack webhook URL from %s: %w", where, err)
	}
	return u, nil
}

// webhookFromValue extracts the URL from a stored value: the plain URL or a
// JSON object with "url" or "webhookUrl" (keys matched case-insensitively).
// Errors describe the shape, never the content.
func webhookFromValue(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "{") {
		return raw, nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		// The JSON error could quote part of the secret; report only the kind.
		return "", errors.New("value starts with '{' but is not a JSON object")
	}
	for _, want := range []string{"url", "webhookUrl"} {
		for k, v := range obj {
			if strings.EqualFold(k, want) {
				s, ok := v.(string)
				if !ok {
					return "", fmt.Errorf("JSON key %q is not a string", k)
				}
				return strings.TrimSpace(s), nil
			}
		}
	}
	return "", errors.New(`JSON value has no "url" or "webhookUrl" key`)
}

// ValidateWebhookURL checks that raw is an absolute https URL with a host;
// plain http is allowed only for localhost and 127.0.0.1 (tests, the local
// demo). Errors never contain raw.
func ValidateWebhookURL(raw string) error {
	if raw == "" {
		return errors.New("webhook URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("webhook URL does not parse") // url.Error would quote it
	}
	if u.Host == "" {
		return errors.New("webhook URL has no host")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("webhook URL must use https (http is allowed only for localhost)")
	default:
		return errors.New("webhook URL must use https") // the scheme is not quoted: a mangled value may put secret text there
	}
}
