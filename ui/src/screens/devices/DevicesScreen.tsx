export function DevicesScreen() {
  return (
    <div className="screen">
      <header className="screen-head">
        <h1>Devices</h1>
      </header>
    </div>
  );
}
