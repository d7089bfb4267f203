package s3

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// interpretError maps a missing object to storage.ErrNotFound, keeping the
// SDK error in the chain. A missing bucket is a configuration problem, not a
// missing object, and is left as it is.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var noKey *types.NoSuchKey
	if errors.As(err, &noKey) {
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
		case "NoSuchBucket":
			return err
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	return err
}
