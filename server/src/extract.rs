//! Request extractors that answer in the API's error format: a JSON object body, query
//! parameters, the caller's token and a match id from the path.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::app::{App, unix_s, valid_match_id};
use crate::auth::{AuthError, Claims};
use crate::error::ApiError;

/// A JSON object body; a bad or oversized one is a typed error. Only an object is taken:
/// serde would also fill a struct from an array of its fields, which no client means.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<Object<T>>::from_request(req, state).await {
            Ok(Json(Object(value))) => Ok(Body(value)),
            Err(rejection) => {
                let status = rejection.status();
                // 413 and 415 say something precise; every other malformed body is a 400, so
                // that 422 stays the rules' "move refused".
                let (status, code) = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => (status, "body_too_large"),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type"),
                    _ => (StatusCode::BAD_REQUEST, "bad_request"),
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// A value that deserializes only from a map (a JSON object), whatever `T` would take.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData)).map(Object)
    }
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// Query parameters; bad ones are a typed error.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", r.body_text()))
    }
}

/// The caller's token, required.
pub struct Player(pub Claims);

/// The caller's token, if any (a bad one is still refused).
pub struct MaybePlayer(pub Option<Claims>);

/// The bearer token of a request: `None` without an `Authorization` header; a header that is
/// not `Bearer <token>` (the scheme in any case, RFC 9110) is malformed, never ignored.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(Some(token))
}

impl FromRequestParts<Arc<App>> for MaybePlayer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        match bearer(&parts.headers)? {
            None => Ok(MaybePlayer(None)),
            Some(token) => Ok(MaybePlayer(Some(app.keys.verify(token, unix_s())?))),
        }
    }
}

impl FromRequestParts<Arc<App>> for Player {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let MaybePlayer(claims) = MaybePlayer::from_request_parts(parts, app).await?;
        claims.map(Player).ok_or_else(|| AuthError::Missing.into())
    }
}

/// Reads a list of JSON objects, each then as `T`. Serde would also read a struct from an
/// array of its field values, which no request of this API means: `[[null]]` is refused.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error;
    let maps = Vec::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?;
    maps.into_iter()
        .map(|m| serde_json::from_value(serde_json::Value::Object(m)).map_err(D::Error::custom))
        .collect()
}

/// A match id from the path. A string that cannot be an id (or is not UTF-8) names no match.
pub struct MatchPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for MatchPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if valid_match_id(&id) => Ok(MatchPath(id)),
            _ => Err(ApiError::unknown_match()),
        }
    }
}

/// The path parameter [`MatchPath`] reads, for the OpenAPI document.
impl IntoParams for MatchPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new().schema_type(Type::String).pattern(Some(MATCH_ID));
        let description = "The match's id; any other string than 1 to 64 of `A-Z a-z 0-9 _ -` \
            is `unknown_match`.";
        let id = ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(schema));
        vec![id.build()]
    }
}

/// What [`valid_match_id`] takes, as a pattern.
const MATCH_ID: &str = "^[A-Za-z0-9_-]{1,64}$";
