//! `POST /StartProject` and `POST /StopProject`: a user's cloud session.

use super::ApiContext;
use super::client_ip::ClientIp;
use super::fields::Fields;
use super::openapi::{StartProjectBody, StopProjectBody};
use super::reply::{ApiError, Code, QueueData, Reply, SessionDescribe};
use crate::cloud::error::Class;
use crate::cloud::protocol::{ApplyConcurrent, CreateSession};
use crate::domain::{ProjectId, UserId};
use crate::queue::Waiting;
use axum::extract::State;
use std::net::IpAddr;

/// The fields of a StartProject request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartProjectRequest {
    pub user_id: UserId,
    pub project_id: ProjectId,
    pub application_id: Option<String>,
    pub application_version_id: Option<String>,
    /// The browser's session description; optional only with
    /// `RunMode=RunWithoutClient`, where no browser connects.
    pub client_session: String,
    pub run_mode: Option<String>,
    pub application_parameters: Option<String>,
    pub host_user_id: Option<String>,
    pub role: Option<String>,
}

impl StartProjectRequest {
    pub fn from_fields(fields: &Fields) -> Result<Self, ApiError> {
        fields.optional("RequestId")?;
        let run_mode = fields.optional("RunMode")?;
        let client_session = if run_mode.as_deref() == Some("RunWithoutClient") {
            fields.optional("ClientSession")?.unwrap_or_default()
        } else {
            fields.required("ClientSession")?
        };
        Ok(Self {
            user_id: UserId::parse(fields.required(UserId::FIELD)?)?,
            project_id: ProjectId::parse(fields.required(ProjectId::FIELD)?)?,
            application_id: fields.optional("ApplicationId")?,
            application_version_id: fields.optional("ApplicationVersionId")?,
            client_session,
            run_mode,
            application_parameters: fields.optional("ApplicationParameters")?,
            host_user_id: fields.optional("HostUserId")?,
            role: fields.optional("Role")?,
        })
    }

    fn waiting(&self, user_ip: IpAddr) -> Waiting {
        Waiting {
            user_id: self.user_id.clone(),
            project_id: self.project_id.clone(),
            user_ip,
            application_id: self.application_id.clone(),
            application_version_id: self.application_version_id.clone(),
        }
    }
}

/// Reserves a machine (ApplyConcurrent) and starts the stream on it
/// (CreateSession). Calling it directly skips the queue, unless
/// `QUEUE_STRICT=Y`.
#[utoipa::path(
    post,
    path = "/StartProject",
    request_body(content(
        (StartProjectBody = "application/json"),
        (StartProjectBody = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = Reply, description = "Code 0 with `SessionDescribe`; 10100 with `Data` (QUEUE_STRICT=Y, not the user's turn); 10200/10202 with the cloud's `Error`; 10000/10001/10002")),
)]
pub async fn start_project(
    State(context): State<ApiContext>,
    ClientIp(user_ip): ClientIp,
    fields: Fields,
) -> Reply {
    let request_id = fields.request_id();
    match start(&context, user_ip, &fields).await {
        Ok(reply) => Reply {
            request_id,
            ..reply
        },
        Err(error) => error.reply(request_id),
    }
}

async fn start(context: &ApiContext, user_ip: IpAddr, fields: &Fields) -> Result<Reply, ApiError> {
    let request = StartProjectRequest::from_fields(fields)?;
    context.check_project(&request.project_id)?;

    if let Some(index) = context
        .queue
        .start_permit(&request.waiting(user_ip))
        .await?
    {
        let mut reply = Reply::new(Code::Queued, None);
        reply.data = Some(QueueData {
            index,
            user_id: request.user_id.into_string(),
            project_id: request.project_id.into_string(),
        });
        return Ok(reply);
    }

    let apply = ApplyConcurrent {
        user_id: request.user_id.to_string(),
        user_ip: user_ip.to_string(),
        project_id: request.project_id.to_string(),
        application_id: request.application_id.clone(),
        application_version_id: request.application_version_id.clone(),
    };
    context.cloud.apply_concurrent(&apply).await?;

    let create = CreateSession {
        user_id: request.user_id.to_string(),
        user_ip: user_ip.to_string(),
        client_session: request.client_session,
        run_mode: request.run_mode,
        application_parameters: request.application_parameters,
        host_user_id: request.host_user_id,
        role: request.role,
    };
    let session = match context.cloud.create_session(&create).await {
        Ok(session) => session,
        Err(error) => {
            // Refused for good (a bad `RunMode`, say), the reservation
            // ApplyConcurrent made would keep the machine, and the project
            // full, until it lapses. After a transient failure the session
            // may exist after all and the page will likely try again, so
            // nothing is given back then.
            if error.class() == Class::Permanent {
                context.queue.give_back(&request.user_id).await;
                if let Err(error) = context.queue.stopped(&request.user_id).await {
                    tracing::warn!(user_id = request.user_id.as_str(), %error, "could not clear the refused user's queue state");
                }
            }
            return Err(error.into());
        }
    };

    tracing::info!(
        user_id = request.user_id.as_str(),
        project_id = request.project_id.as_str(),
        cloud_request_id = session.request_id.as_str(),
        "session started"
    );
    // The session exists whatever the store says; a failure here only
    // leaves a stale queue entry that lapses by itself.
    if let Err(error) = context.queue.started(&request.user_id).await {
        tracing::warn!(user_id = request.user_id.as_str(), %error, "could not clear the started user's queue state");
    }

    let mut reply = Reply::new(Code::Ok, None);
    reply.session_describe = Some(SessionDescribe {
        server_session: session.server_session,
        request_id: session.request_id,
    });
    Ok(reply)
}

/// Ends the user's session (DestroySession), which frees its machine for
/// the next user in line.
#[utoipa::path(
    post,
    path = "/StopProject",
    request_body(content(
        (StopProjectBody = "application/json"),
        (StopProjectBody = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = Reply, description = "Code 0; 10201 with the cloud's `Error`; 10000/10001")),
)]
pub async fn stop_project(State(context): State<ApiContext>, fields: Fields) -> Reply {
    let request_id = fields.request_id();
    match stop(&context, &fields).await {
        Ok(()) => Reply::new(Code::Ok, request_id),
        Err(error) => error.reply(request_id),
    }
}

/// The checked fields of a StopProject request: whose session to end.
pub fn stop_request(fields: &Fields) -> Result<UserId, ApiError> {
    fields.optional("RequestId")?;
    Ok(UserId::parse(fields.required(UserId::FIELD)?)?)
}

async fn stop(context: &ApiContext, fields: &Fields) -> Result<(), ApiError> {
    let user_id = stop_request(fields)?;

    let cloud_request_id = context.cloud.destroy_session(user_id.as_str()).await?;
    tracing::info!(
        user_id = user_id.as_str(),
        cloud_request_id = cloud_request_id.as_str(),
        "session stopped"
    );

    if let Err(error) = context.queue.stopped(&user_id).await {
        tracing::warn!(user_id = user_id.as_str(), %error, "could not clear the stopped user's queue state");
    }
    Ok(())
}
