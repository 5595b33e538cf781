package alert

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sesguard/sesguard/internal/testkit"
)

const hookURL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefSECRETtoken"

func TestLoadWebhookURLKumo(t *testing.T) {
	ctx := context.Background()
	cfg := kumoConfig(t)
	sm := secretsmanager.NewFromConfig(cfg)
	// kumo's registry is process-wide, so the secrets live under a prefix
	// of this run's own (-count=N creates them again).
	dir := testkit.Unique("sesguard/slack") + "/"

	secrets := map[string]string{
		"plain":       hookURL + "\n",
		"json-url":    `{"url": "` + hookURL + `"}`,
		"json-hook":   `{"webhookUrl": "` + hookURL + `", "channel": "#ses"}`,
		"json-other":  `{"token": "` + hookURL + `"}`,
		"not-https":   "http://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefSECRETtoken",
		"broken-json": `{"url": "` + hookURL,
		"json-number": `{"url": 42}`,
	}
	arns := map[string]string{}
	for name, v := range secrets {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(dir + name), SecretString: aws.String(v)})
		if err != nil {
			t.Fatal(err)
		}
		arns[name] = *out.ARN
	}

	for _, ref := range []string{dir + "plain", arns["plain"], dir + "json-url", dir + "json-hook"} {
		got, err := LoadWebhookURL(ctx, ref, sm)
		if err != nil {
			t.Errorf("LoadWebhookURL(%q): %v", ref, err)
		} else if got != hookURL {
			t.Errorf("LoadWebhookURL(%q) = %q", ref, got)
		}
	}

	for _, tc := range []struct{ ref, wantErr string }{
		{dir + "json-other", `no "url" or "webhookUrl" key`},
		{dir + "not-https", "must use https"},
		{dir + "broken-json", "not a JSON object"},
		{dir + "json-number", `"url" is not a string`},
		{dir + "missing", "secret " + dir + "missing"},
		{"", "empty secret reference"},
		{hookURL, "looks like a URL"},
	} {
		_, err := LoadWebhookURL(ctx, tc.ref, sm)
		if err == nil {
			t.Errorf("LoadWebhookURL(%q): no error", tc.ref)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("LoadWebhookURL(%q) error %q lacks %q", tc.ref, err, tc.wantErr)
		}
		if strings.Contains(err.Error(), "abcdefSECRETtoken") {
			t.Errorf("LoadWebhookURL(%q) error leaks the URL: %v", tc.ref, err)
		}
	}
}

type getSecretFunc func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)

func (f getSecretFunc) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(ctx, in, o...)
}

func TestLoadWebhookURLEdges(t *testing.T) {
	ctx := context.Background()
	binary := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		return &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(`{"WebhookURL":"` + hookURL + `"}`)}, nil
	})
	if got, err := LoadWebhookURL(ctx, "bin", binary); err != nil || got != hookURL {
		t.Errorf("binary secret: %q, %v", got, err)
	}
	empty := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		return &secretsmanager.GetSecretValueOutput{}, nil
	})
	if _, err := LoadWebhookURL(ctx, "e", empty); err == nil || !strings.Contains(err.Error(), "no value") {
		t.Errorf("empty secret: %v", err)
	}
	denied := errors.New("AccessDeniedException: not authorized")
	fails := getSecretFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		return nil, denied
	})
	if _, err := LoadWebhookURL(ctx, "s", fails); !errors.Is(err, denied) {
		t.Errorf("error %v does not wrap the API error", err)
	}
}
