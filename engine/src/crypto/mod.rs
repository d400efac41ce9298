pub mod dtls;
