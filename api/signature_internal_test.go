package api

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
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
	wh, err := standardwebhooks.NewWebhook(vectorSecret)
	require.NoError(t, err)
	body := []byte(`{"event_id":"x"}`)
	sign := func(id string, at time.Time, b []byte) http.Header {
		sig, err := wh.Sign(id, at, b)
		require.NoError(t, err)
		h := http.Header{}
		h.Set("svix-id", id)
		h.Set("svix-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("svix-signature", sig)
		return h
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
