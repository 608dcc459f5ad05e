package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/internal/testutil"
)

// The test vector documented for Seam's (Svix) webhooks.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = "1614265330"
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignatureTestVector(t *testing.T) {
	v, err := NewSignatureVerifier(vectorSecret)
	require.NoError(t, err)
	for _, prefix := range []string{"svix-", "webhook-", "Svix-", "WEBHOOK-"} {
		h := http.Header{}
		h.Set(prefix+"id", vectorID)
		h.Set(prefix+"timestamp", vectorTS)
		h.Set(prefix+"signature", "v1,bm90IGl0 "+vectorSig+" v2,xyz")
		assert.NoError(t, v.verify([]byte(vectorBody), h, false), prefix)
		// The vector is from 2021: with the tolerance on, it is a replay.
		err := v.Verify([]byte(vectorBody), h)
		assert.Equal(t, domain.EUnauthorized, domain.ErrorCode(err))
		assert.Contains(t, err.Error(), "5 minutes")
	}
}

func TestSignatureRefusals(t *testing.T) {
	v, err := NewSignatureVerifier(vectorSecret)
	require.NoError(t, err)
	body := []byte(`{"event_id":"x"}`)
	sign := func(id string, at time.Time, b []byte) http.Header {
		return testutil.Sign(t, vectorSecret, "svix-", id, at, b)
	}
	now := time.Now()
	assert.NoError(t, v.Verify(body, sign("msg_1", now, body)))
	assert.NoError(t, v.Verify(body, sign("msg_1", now.Add(-4*time.Minute), body)))
	for name, tc := range map[string]struct {
		h    http.Header
		want string
	}{
		"stale":         {sign("msg_1", now.Add(-6*time.Minute), body), "5 minutes"},
		"future":        {sign("msg_1", now.Add(6*time.Minute), body), "5 minutes"},
		"other body":    {sign("msg_1", now, []byte(`{"event_id":"y"}`)), "no signature matches"},
		"missing id":    {func() http.Header { h := sign("msg_1", now, body); h.Del("svix-id"); return h }(), "missing signature headers"},
		"no headers":    {http.Header{}, "missing signature headers"},
		"bad timestamp": {func() http.Header { h := sign("msg_1", now, body); h.Set("svix-timestamp", "yesterday"); return h }(), "Unix seconds"},
		"other id":      {func() http.Header { h := sign("msg_1", now, body); h.Set("svix-id", "msg_2"); return h }(), "no signature matches"},
		"wrong version": {func() http.Header {
			h := sign("msg_1", now, body)
			h.Set("svix-signature", "v2"+h.Get("svix-signature")[2:])
			return h
		}(), "no signature matches"},
	} {
		err := v.Verify(body, tc.h)
		assert.Equal(t, domain.EUnauthorized, domain.ErrorCode(err), name)
		assert.ErrorContains(t, err, tc.want, name)
	}
	_, err = NewSignatureVerifier("whsec_!!!")
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
	_, err = NewSignatureVerifier("")
	assert.Equal(t, domain.EInvalid, domain.ErrorCode(err))
}

// TestSignatureBadSecrets: a secret that is empty, blank, not base64 or
// too short a key is refused with a message saying so; Seam's 24-byte keys
// and longer ones are taken.
func TestSignatureBadSecrets(t *testing.T) {
	for _, tc := range []struct {
		secret, want string
	}{
		{"", "is empty"},
		{"   ", "is empty"},
		{"\t\n", "is empty"},
		{"whsec_", "is empty"},
		{"whsec_  ", "is empty"},
		{"whsec_!!!", "not a valid whsec_... secret (base64 after the prefix)"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "not a valid whsec_... secret"}, // one character cut off
		{"whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not a valid whsec_... secret"},
		{"whsec_====", "not a valid whsec_... secret"},
		{"whsec_AA==", "a 1-byte key, under the minimum of 16 bytes"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8I", "a 15-byte key, under the minimum of 16 bytes"},
		{"MfKQ9r8G", "a 6-byte key"},
	} {
		v, err := NewSignatureVerifier(tc.secret)
		assert.Nil(t, v, "%q", tc.secret)
		assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), "%q", tc.secret)
		assert.ErrorContains(t, err, "SEAM_WEBHOOK_SECRET", "%q", tc.secret)
		assert.ErrorContains(t, err, tc.want, "%q", tc.secret)
	}
	for _, secret := range []string{
		vectorSecret,
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", // without the prefix
		"whsec_AAECAwQFBgcICQoLDA0ODw==",   // 16 bytes
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)), // 64 bytes
		"whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=",                   // 26 bytes
	} {
		_, err := NewSignatureVerifier(secret)
		assert.NoError(t, err, secret)
	}
}

// TestSignatureEmptyKeyForgery: a signature made with an empty key (what
// a "whsec_" secret used to verify with) passes no verifier that can be
// built, from any secret tried.
func TestSignatureEmptyKeyForgery(t *testing.T) {
	forger, err := standardwebhooks.NewWebhookRaw(nil)
	require.NoError(t, err)
	body := []byte(`{"event_id":"x"}`)
	now := time.Now()
	sig, err := forger.Sign("msg_forged", now, body)
	require.NoError(t, err)
	h := http.Header{}
	h.Set("svix-id", "msg_forged")
	h.Set("svix-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("svix-signature", sig)

	var built int
	for _, secret := range []string{"whsec_", "", " ", "whsec_=", "whsec_==", "whsec_AA==", "whsec_\n", "whsec_\r\n",
		vectorSecret, "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ="} {
		v, err := NewSignatureVerifier(secret)
		if err != nil {
			continue
		}
		built++
		assert.ErrorContains(t, v.Verify(body, h), "no signature matches", "%q", secret)
	}
	assert.Equal(t, 2, built, "only the two real secrets build a verifier")
}

// TestSignatureHeaderPrecedence: the svix-* set is used whole when all
// three are present, else the webhook-* set whole; the families are never
// mixed, and MessageID follows the same choice.
func TestSignatureHeaderPrecedence(t *testing.T) {
	v, err := NewSignatureVerifier(vectorSecret)
	require.NoError(t, err)
	other := testutil.NewSigner(t, "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=")
	good := testutil.NewSigner(t, vectorSecret)
	body := []byte(`{"event_id":"x"}`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	// set returns the three headers of family ("svix-" or "webhook-")
	// signed by s under id; a "" name in skip leaves that header out.
	set := func(family string, s *testutil.Signer, id string, skip ...string) map[string]string {
		h, err := s.Sign(family, id, now, body)
		require.NoError(t, err)
		m := map[string]string{family + "id": id, family + "timestamp": ts, family + "signature": h.Get(family + "signature")}
		for _, s := range skip {
			delete(m, family+s)
		}
		return m
	}
	merge := func(ms ...map[string]string) http.Header {
		h := http.Header{}
		for _, m := range ms {
			for k, v := range m {
				h.Set(k, v)
			}
		}
		return h
	}
	for _, tc := range []struct {
		name  string
		h     http.Header
		err   string // "" when verified
		msgID string
	}{
		{"svix only", merge(set("svix-", good, "msg_s")), "", "msg_s"},
		{"webhook only", merge(set("webhook-", good, "msg_w")), "", "msg_w"},
		{"both valid", merge(set("svix-", good, "msg_s"), set("webhook-", good, "msg_w")), "", "msg_s"},
		{"svix valid, webhook forged", merge(set("svix-", good, "msg_s"), set("webhook-", other, "msg_w")), "", "msg_s"},
		{"svix forged, webhook valid: svix is the set", merge(set("svix-", other, "msg_s"), set("webhook-", good, "msg_w")), "no signature matches", "msg_s"},
		{"svix without signature: webhook is the set", merge(set("svix-", other, "msg_s", "signature"), set("webhook-", good, "msg_w")), "", "msg_w"},
		{"svix without id: webhook is the set", merge(set("svix-", good, "msg_s", "id"), set("webhook-", good, "msg_w")), "", "msg_w"},
		{"svix without timestamp, webhook forged", merge(set("svix-", good, "msg_s", "timestamp"), set("webhook-", other, "msg_w")), "no signature matches", "msg_w"},
		// Mixing the families header by header would verify these.
		{"svix id and timestamp, webhook signature", merge(set("svix-", good, "msg_s", "signature"), set("webhook-", good, "msg_s", "id", "timestamp")),
			"missing signature headers", "msg_s"},
		{"svix signature, webhook id and timestamp", merge(set("svix-", good, "msg_w", "id", "timestamp"), set("webhook-", good, "msg_w", "signature")),
			"missing signature headers", "msg_w"},
		{"webhook id, svix id: the svix set decides", merge(set("svix-", good, "msg_s"), map[string]string{"webhook-id": "msg_w"}), "", "msg_s"},
		{"neither complete, both ids", merge(set("svix-", good, "msg_s", "signature"), set("webhook-", good, "msg_w", "signature")),
			"missing signature headers", "msg_s"},
		{"nothing", http.Header{}, "missing signature headers", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(body, tc.h)
			if tc.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tc.err)
			}
			assert.Equal(t, tc.msgID, MessageID(tc.h))
		})
	}
}
