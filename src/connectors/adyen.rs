//! PLACEHOLDER (lead): replaced by the connectors author.
use super::*;
#[derive(Debug, Clone)]
pub struct AdyenConnector { settings: ConnectorSettings }
impl AdyenConnector {
    pub fn new(settings: ConnectorSettings, _client: HttpClient) -> Self { Self { settings } }
    pub fn settings(&self) -> &ConnectorSettings { &self.settings }
    pub async fn authorize(&self, _r: &AuthorizeRequest) -> Outcome { Outcome::Unavailable { reason: "placeholder".into() } }
    pub async fn capture(&self, _r: &CaptureRequest) -> Outcome { Outcome::Unavailable { reason: "placeholder".into() } }
    pub async fn cancel(&self, _r: &CancelRequest) -> Outcome { Outcome::Unavailable { reason: "placeholder".into() } }
    pub async fn refund(&self, _r: &RefundRequest) -> Outcome { Outcome::Unavailable { reason: "placeholder".into() } }
}
