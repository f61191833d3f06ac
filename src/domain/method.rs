//! The payment method as a gateway receives it: card data, a gateway's
//! stored token, a wallet payload or SEPA details, every secret part of it
//! wrapped in [`Sensitive`] so that none reaches a log.

use super::sensitive::Sensitive;

#[derive(Debug, Clone)]
pub struct CardData {
    pub number: Sensitive,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: Option<Sensitive>,
    pub holder_name: Option<String>,
}

/// The payment method as the chosen gateway must receive it.
#[derive(Debug, Clone)]
pub enum MethodData {
    Card(CardData),
    /// A gateway-specific stored token (Stripe `pm_...`, Adyen
    /// `storedPaymentMethodId`) chosen for this gateway from the request's
    /// `tokens` map.
    GatewayToken(Sensitive),
    /// Wallet payload as provided by the merchant (opaque to payroute).
    ApplePay(Sensitive),
    GooglePay(Sensitive),
    SepaDebit {
        iban: Sensitive,
        owner_name: String,
    },
}
