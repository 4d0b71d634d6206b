//! A fake of the Yandex Market Partner API (placeholder until its adapter lands).
