//! `POST /Enqueue` and `POST /Dequeue`: a user's place in its project's line.
//!
//! Enqueue is the service's hot path: every waiting page polls it every second
//! or two. It does one store call (two when it joins an empty line) and logs
//! nothing at info.

use super::ApiContext;
use super::client_ip::ClientIp;
use super::fields::Fields;
use super::openapi::{DequeueBody, EnqueueBody};
use super::reply::{ApiError, CloudErrorReply, Code, QueueData, Reply};
use crate::domain::{ProjectId, UserId};
use crate::queue::{Standing, Waiting};
use axum::extract::State;
use std::net::IpAddr;

/// The checked fields of an Enqueue request: who waits, for which project.
pub fn enqueue_request(fields: &Fields, user_ip: IpAddr) -> Result<Waiting, ApiError> {
    fields.optional("RequestId")?;
    Ok(Waiting {
        user_id: UserId::parse(fields.required(UserId::FIELD)?)?,
        project_id: ProjectId::parse(fields.required(ProjectId::FIELD)?)?,
        user_ip,
        application_id: fields.optional("ApplicationId")?,
        application_version_id: fields.optional("ApplicationVersionId")?,
    })
}

/// Joins the project's line, or reports the user's place in it; 10101 when
/// it is the user's turn to call StartProject.
#[utoipa::path(
    post,
    path = "/Enqueue",
    request_body(content(
        (EnqueueBody = "application/json"),
        (EnqueueBody = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = Reply, description = "Code 10100 (queued; `Data.Index` is the 0-based place) or 10101 (call StartProject now), both with `Data`; 10202 with the cloud's `Error` when the cloud refused the user for good; 10000/10001/10002")),
)]
pub async fn enqueue(
    State(context): State<ApiContext>,
    ClientIp(user_ip): ClientIp,
    fields: Fields,
) -> Reply {
    let request_id = fields.request_id();
    match poll(&context, user_ip, &fields).await {
        Ok(reply) => Reply {
            request_id,
            ..reply
        },
        Err(error) => error.reply(request_id),
    }
}

async fn poll(context: &ApiContext, user_ip: IpAddr, fields: &Fields) -> Result<Reply, ApiError> {
    let waiting = enqueue_request(fields, user_ip)?;
    context.check_project(&waiting.project_id)?;
    let standing = context.queue.enqueue(&waiting).await?;

    let (code, index) = match &standing {
        Standing::Admitted => (Code::QueueDone, 0),
        Standing::Queued { index } => (Code::Queued, *index),
        Standing::Refused(_) => (Code::ApplyConcurrentFailed, 0),
    };
    let mut reply = Reply::new(code, None);
    if let Standing::Refused(refusal) = standing {
        reply.error = Some(CloudErrorReply {
            code: refusal.code,
            message: refusal.message,
            request_id: refusal.request_id,
        });
        return Ok(reply);
    }
    reply.data = Some(QueueData {
        index,
        user_id: waiting.user_id.into_string(),
        project_id: waiting.project_id.into_string(),
    });
    Ok(reply)
}

/// Leaves the line (or gives back an admission). Answers 0 also when the user
/// was not queued.
#[utoipa::path(
    post,
    path = "/Dequeue",
    request_body(content(
        (DequeueBody = "application/json"),
        (DequeueBody = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = Reply, description = "Code 0, also when the user was not queued; 10000/10001/10002")),
)]
pub async fn dequeue(State(context): State<ApiContext>, fields: Fields) -> Reply {
    let request_id = fields.request_id();
    match leave(&context, &fields).await {
        Ok(()) => Reply::new(Code::Ok, request_id),
        Err(error) => error.reply(request_id),
    }
}

/// The checked fields of a Dequeue request: whose place to give up.
pub fn dequeue_request(fields: &Fields) -> Result<UserId, ApiError> {
    fields.optional("RequestId")?;
    Ok(UserId::parse(fields.required(UserId::FIELD)?)?)
}

async fn leave(context: &ApiContext, fields: &Fields) -> Result<(), ApiError> {
    let user_id = dequeue_request(fields)?;
    context.queue.dequeue(&user_id).await?;
    Ok(())
}
