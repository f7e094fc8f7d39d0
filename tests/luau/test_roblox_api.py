"""The fake Roblox API behaves like Roblox for what common scripts use.

Each test runs real Luau in the sandbox child process; the Luau `check` asserts the behaviour.
"""

from __future__ import annotations

import pytest

from datashark.luau.sandbox import SandboxScript


def ok(result) -> None:
    assert result.ok, f"{result.stage}: {result.error}\nlog: {result.log}"


def test_instance_tree_and_lookup(sandbox) -> None:
    check = """
    local folder = Instance.new("Folder")
    folder.Name = "Stuff"
    folder.Parent = workspace
    local part = Instance.new("Part", folder)
    part.Name = "Brick"
    local inner = Instance.new("IntValue")
    inner.Parent = part
    assert(workspace.Stuff.Brick == part, "dot lookup of children")
    assert(workspace:FindFirstChild("Brick") == nil and workspace:FindFirstChild("Brick", true) == part)
    assert(part:FindFirstChildOfClass("IntValue") == inner and part:FindFirstChildWhichIsA("ValueBase") == inner)
    assert(inner:FindFirstAncestorOfClass("Folder") == folder and inner:FindFirstAncestor("Stuff") == folder)
    assert(#folder:GetChildren() == 1 and #folder:GetDescendants() == 2)
    assert(part:IsA("BasePart") and part:IsA("Instance") and not part:IsA("Model"))
    assert(part.ClassName == "Part" and part:GetFullName() == "Workspace.Stuff.Brick")
    assert(inner:IsDescendantOf(workspace) and workspace:IsAncestorOf(inner))
    assert(typeof(part) == "Instance" and tostring(part) == "Brick")
    local ok, err = pcall(function() return part.NoSuchThing end)
    assert(not ok and string.find(err, "NoSuchThing is not a valid member of Part"), err)
    ok, err = pcall(function() part.Position = 5 end)
    assert(not ok and string.find(err, "Vector3 expected"), err)
    ok, err = pcall(Instance.new, "Banana")
    assert(not ok and string.find(err, "Unable to create an Instance of type"), err)
    ok, err = pcall(function() part.Parent = inner end)
    assert(not ok and string.find(err, "circular reference"), err)
    return true
    """
    ok(sandbox("", check))


def test_destroy_clone_and_signals(sandbox) -> None:
    check = """
    local model = Instance.new("Model")
    model.Name = "Car"
    local body = Instance.new("Part")
    body.Name = "Body"
    body.Parent = model
    model.PrimaryPart = body
    model:SetAttribute("Speed", 10)
    local copy = model:Clone()
    assert(copy.Parent == nil and copy.Body ~= body and copy:GetAttribute("Speed") == 10)
    local added, removed, destroying = {}, {}, 0
    workspace.ChildAdded:Connect(function(c) table.insert(added, c.Name) end)
    workspace.ChildRemoved:Connect(function(c) table.insert(removed, c.Name) end)
    model.Destroying:Connect(function() destroying += 1 end)
    model.Parent = workspace
    copy.Parent = workspace
    model:Destroy()
    assert(#added == 2 and #removed == 1 and destroying == 1)
    assert(model.Parent == nil and body.Parent == nil)
    local ok, err = pcall(function() model.Parent = workspace end)
    assert(not ok and string.find(err, "locked"), err)
    -- Changed, GetPropertyChangedSignal, AttributeChanged, Once, Disconnect
    local part = Instance.new("Part")
    local changed, transparency, attr, once = {}, 0, 0, 0
    part.Changed:Connect(function(prop) table.insert(changed, prop) end)
    local c = part:GetPropertyChangedSignal("Transparency"):Connect(function() transparency += 1 end)
    part:GetAttributeChangedSignal("Hp"):Connect(function() attr += 1 end)
    part.Touched:Once(function() once += 1 end)
    part.Transparency = 0.5
    part.Transparency = 0.5 -- same value: no event
    c:Disconnect()
    assert(c.Connected == false)
    part.Transparency = 1
    part:SetAttribute("Hp", 3)
    assert(transparency == 1 and attr == 1 and table.find(changed, "Transparency"))
    local ok2 = pcall(function() part:SetAttribute("Bad", part) end)
    assert(not ok2, "instances are not attribute values")
    -- IntValue.Changed passes the new value
    local v = Instance.new("IntValue")
    local got
    v.Changed:Connect(function(value) got = value end)
    v.Value = 7
    assert(got == 7)
    return true
    """
    ok(sandbox("", check))


def test_wait_for_child_resumes_and_times_out(sandbox) -> None:
    source = """
    local got = workspace:WaitForChild("Late")
    print("got", got.Name, os.clock())
    print("timeout", workspace:WaitForChild("Never", 2), os.clock())
    """
    check = """
    advance(1)
    local p = Instance.new("Part")
    p.Name = "Late"
    p.Parent = workspace
    advance(3)
    return true
    """
    result = sandbox(source, check)
    ok(result)
    assert result.log == ("got Late 1", "timeout nil 3")


def test_virtual_clock_task_library(sandbox) -> None:
    source = """
    local order = {}
    task.spawn(function() table.insert(order, "spawn") end)
    task.defer(function() table.insert(order, "defer") end)
    task.delay(2, function() table.insert(order, "delay2") end)
    local t = task.delay(1, function() table.insert(order, "cancelled") end)
    task.cancel(t)
    table.insert(order, "main")
    local waited = task.wait(10)
    table.insert(order, "after10")
    print(table.concat(order, ","), waited)
    local n = 0
    while true do
        task.wait(1)
        n += 1
        workspace:SetAttribute("Ticks", n)
    end
    """
    check = """
    advance(10)
    advance(5.5)
    assertEq(workspace:GetAttribute("Ticks"), 5, "loop ticks once per simulated second")
    assert(waitUntil(function() return workspace:GetAttribute("Ticks") == 8 end, 5), "waitUntil")
    assertNear(clock(), 18, 0.11, "waitUntil stops as soon as the predicate holds")
    assert(not waitUntil(function() return false end, 1), "waitUntil gives up after its timeout")
    return true
    """
    result = sandbox(source, check)
    ok(result)
    assert result.log == ("spawn,main,defer,delay2,after10 10",)


def test_value_types(sandbox) -> None:
    check = """
    local a, b = Vector3.new(1, 2, 3), Vector3.new(4, 6, 3)
    assert(a + b == Vector3.new(5, 8, 6) and b - a == Vector3.new(3, 4, 0))
    assert((b - a).Magnitude == 5 and a * 2 == Vector3.new(2, 4, 6) and -a == Vector3.new(-1, -2, -3))
    assert(a:Dot(b) == 25 and Vector3.xAxis:Cross(Vector3.yAxis) == Vector3.zAxis)
    assert(near(a:Lerp(b, 0.5), Vector3.new(2.5, 4, 3)) and typeof(a) == "Vector3")
    local cf = CFrame.new(10, 0, 0) * CFrame.Angles(0, math.rad(90), 0)
    assert(near(cf * Vector3.new(0, 0, -5), Vector3.new(5, 0, 0), 1e-6), tostring(cf * Vector3.new(0, 0, -5)))
    assert(near(cf.LookVector, Vector3.new(-1, 0, 0), 1e-6), tostring(cf.LookVector))
    assert(near((cf * cf:Inverse()).Position, Vector3.zero, 1e-9))
    local look = CFrame.lookAt(Vector3.new(0, 0, 0), Vector3.new(0, 0, 10))
    assert(near(look.LookVector, Vector3.new(0, 0, 1), 1e-6))
    local half = CFrame.new():Lerp(CFrame.new(0, 10, 0) * CFrame.Angles(0, math.pi, 0), 0.5)
    assert(near(half.Position, Vector3.new(0, 5, 0)) and near(half.LookVector, Vector3.new(-1, 0, 0), 1e-6), tostring(half.LookVector))
    local rx, ry, rz = CFrame.fromOrientation(math.rad(10), math.rad(20), math.rad(30)):ToOrientation()
    assert(near(math.deg(rx), 10) and near(math.deg(ry), 20) and near(math.deg(rz), 30))
    assert(Color3.fromRGB(255, 0, 0) == Color3.new(1, 0, 0) and BrickColor.new("Bright red").Name == "Bright red")
    local h, s, v = Color3.fromHSV(0.5, 1, 1):ToHSV()
    assert(near(h, 0.5) and near(s, 1) and near(v, 1))
    local u = UDim2.new(0.5, 10, 1, -20) + UDim2.fromOffset(5, 5)
    assert(u.X.Scale == 0.5 and u.X.Offset == 15 and u.Y.Offset == -15 and typeof(u) == "UDim2")
    local info = TweenInfo.new(2, Enum.EasingStyle.Linear)
    assert(info.Time == 2 and info.EasingStyle == Enum.EasingStyle.Linear and info.RepeatCount == 0)
    assert(Enum.KeyCode.E.Name == "E" and Enum.KeyCode.E.EnumType == Enum.KeyCode and typeof(Enum.Material.Neon) == "EnumItem")
    local ok = pcall(function() return Enum.KeyCode.NotAKey end)
    assert(not ok, "unknown enum items are errors")
    local r1, r2 = Random.new(42), Random.new(42)
    assert(r1:NextInteger(1, 100) == r2:NextInteger(1, 100))
    assert(NumberRange.new(1, 5).Max == 5)
    return true
    """
    ok(sandbox("", check))


def test_parts_position_cframe_and_color(sandbox) -> None:
    check = """
    local part = Instance.new("Part")
    part.Position = Vector3.new(1, 2, 3)
    assert(part.CFrame.Position == Vector3.new(1, 2, 3))
    part.Orientation = Vector3.new(0, 90, 0)
    assert(near(part.Orientation, Vector3.new(0, 90, 0), 1e-6) and part.Position == Vector3.new(1, 2, 3))
    local moved = 0
    part:GetPropertyChangedSignal("Position"):Connect(function() moved += 1 end)
    part.CFrame = CFrame.new(5, 5, 5)
    assert(moved == 1 and part.Position == Vector3.new(5, 5, 5))
    part.BrickColor = BrickColor.new("Bright red")
    assert(part.BrickColor.Name == "Bright red" and near(part.Color.R, 196 / 255))
    part.Size = Vector3.new(2, 3, 4)
    assert(part.Size.Y == 3 and part.Anchored == false and part.CanCollide == true and part.Transparency == 0)
    local model = Instance.new("Model")
    part.Parent = model
    model.PrimaryPart = part
    model:PivotTo(CFrame.new(0, 100, 0))
    assert(part.Position == Vector3.new(0, 100, 0))
    return true
    """
    ok(sandbox("", check))


def test_players_characters_humanoid(sandbox) -> None:
    source = """
    local Players = game:GetService("Players")
    Players.PlayerAdded:Connect(function(player)
        print("joined", player.Name)
        player.CharacterAdded:Connect(function(character)
            local humanoid = character:WaitForChild("Humanoid")
            humanoid.Died:Connect(function() print("died", player.Name) end)
        end)
    end)
    Players.PlayerRemoving:Connect(function(player) print("left", player.Name) end)
    """
    check = """
    local Players = game:GetService("Players")
    local player, character = spawnPlayer("Alice")
    assert(Players:GetPlayerFromCharacter(character) == player and player.Character == character)
    assert(character.Parent == workspace and character.PrimaryPart == character.HumanoidRootPart and character:FindFirstChild("Head"))
    assert(player.UserId > 0 and Players:GetPlayerByUserId(player.UserId) == player and #Players:GetPlayers() == 1)
    local humanoid = character.Humanoid
    assert(humanoid.Health == 100 and humanoid.MaxHealth == 100 and humanoid.WalkSpeed == 16 and humanoid.JumpPower == 50)
    local healths = {}
    humanoid.HealthChanged:Connect(function(h) table.insert(healths, h) end)
    humanoid:TakeDamage(30)
    humanoid.Health = 500
    assert(healths[1] == 70 and humanoid.Health == 100, "health is clamped to MaxHealth")
    assert(humanoid:GetState() == Enum.HumanoidStateType.Running)
    humanoid:ChangeState(Enum.HumanoidStateType.Jumping)
    assert(humanoid:GetState() == Enum.HumanoidStateType.Jumping)
    humanoid.Health = 0
    assert(humanoid:GetState() == Enum.HumanoidStateType.Dead)
    advance(Players.RespawnTime + 0.1)
    assert(player.Character ~= character and player.Character.Humanoid.Health == 100, "auto respawn")
    removePlayer(player)
    assert(player.Parent == nil and #Players:GetPlayers() == 0)
    return true
    """
    result = sandbox(source, check)
    ok(result)
    assert result.log == ("joined Alice", "died Alice", "left Alice")


def test_tweens_interpolate_on_virtual_time(sandbox) -> None:
    check = """
    local TweenService = game:GetService("TweenService")
    local part = makePart({ Position = Vector3.new(0, 0, 0) })
    local tween = TweenService:Create(part, TweenInfo.new(2, Enum.EasingStyle.Linear), { Position = Vector3.new(10, 0, 0), Transparency = 1 })
    local done
    tween.Completed:Connect(function(state) done = state end)
    tween:Play()
    advance(1)
    assert(near(part.Position, Vector3.new(5, 0, 0), 0.1) and near(part.Transparency, 0.5, 0.02), tostring(part.Position))
    advance(1.1)
    assert(part.Position == Vector3.new(10, 0, 0) and done == Enum.PlaybackState.Completed)
    local ok, err = pcall(function() TweenService:Create(part, TweenInfo.new(1), { Position = 5 }) end)
    assert(not ok and string.find(err, "type mismatch"), err)
    return true
    """
    ok(sandbox("", check))


def test_datastore_remotes_bindables_and_json(sandbox) -> None:
    check = """
    local store = game:GetService("DataStoreService"):GetDataStore("Test")
    store:SetAsync("k", { coins = 5, list = { 1, 2 } })
    local value = store:GetAsync("k")
    value.coins = 99 -- a copy: the store is not changed
    assert(store:GetAsync("k").coins == 5)
    assert(store:UpdateAsync("k", function(old) old.coins += 1 return old end).coins == 6)
    assert(store:IncrementAsync("n", 3) == 3 and store:IncrementAsync("n") == 4)
    local ok = pcall(function() store:SetAsync("bad", { part = Instance.new("Part") }) end)
    assert(not ok, "instances cannot be stored")
    assert(dataStore("Test").k.coins == 6)
    local Http = game:GetService("HttpService")
    local text = Http:JSONEncode({ a = 1, b = { true, "x" } })
    local back = Http:JSONDecode(text)
    assert(back.a == 1 and back.b[1] == true and back.b[2] == "x")
    assert(not pcall(Http.JSONDecode, Http, "{oops"))
    local bindable = Instance.new("BindableEvent")
    local got
    bindable.Event:Connect(function(x) got = x end)
    bindable:Fire(42)
    assert(got == 42)
    local remote = Instance.new("RemoteEvent")
    remote.Parent = game:GetService("ReplicatedStorage")
    local from
    remote.OnServerEvent:Connect(function(player, msg) from = player.Name .. ":" .. msg end)
    fireServer(remote, spawnPlayer("Bob"), "hi")
    assert(from == "Bob:hi")
    local rf = Instance.new("RemoteFunction")
    rf.OnServerInvoke = function(player, n) return n * 2 end
    assert(invokeServer(rf, spawnPlayer("Cy"), 21) == 42)
    return true
    """
    ok(sandbox("", check))


def test_client_scripts_module_scripts_and_run_locations(sandbox) -> None:
    module = SandboxScript(
        "Config",
        "ModuleScript",
        "ReplicatedStorage",
        "return { speed = 24, loads = (shared.loads or 0) + 1 }",
    )
    stored = SandboxScript("NotRun", "Script", "ServerStorage", 'print("server storage ran")')
    client = SandboxScript(
        "Client",
        "LocalScript",
        "StarterPlayer.StarterPlayerScripts",
        """
        local Players = game:GetService("Players")
        local config = require(game:GetService("ReplicatedStorage").Config)
        local again = require(game:GetService("ReplicatedStorage").Config)
        assert(config == again, "modules run once")
        local player = Players.LocalPlayer
        local character = player.Character or player.CharacterAdded:Wait()
        character:WaitForChild("Humanoid").WalkSpeed = config.speed
        print("client", player.Name, game:GetService("RunService"):IsClient())
        """,
    )
    check = """
    assert(humanoidOf(localPlayer()).WalkSpeed == 24)
    return true
    """
    result = sandbox('print("server")', check, extra=[module, stored, client])
    ok(result)
    assert result.log == ("server", "client Player1 true")


def test_gui_prompts_click_detectors_and_input(sandbox) -> None:
    check = """
    local player = spawnPlayer("Alice")
    local part = makePart({ Name = "Box" })
    local prompt = Instance.new("ProximityPrompt", part)
    local detector = Instance.new("ClickDetector", part)
    local log = {}
    prompt.Triggered:Connect(function(p) table.insert(log, "prompt " .. p.Name) end)
    detector.MouseClick:Connect(function(p) table.insert(log, "click " .. p.Name) end)
    local gui = Instance.new("ScreenGui", player.PlayerGui)
    local button = Instance.new("TextButton", gui)
    button.MouseButton1Click:Connect(function() table.insert(log, "button") end)
    button.Activated:Connect(function() table.insert(log, "activated") end)
    local UIS = game:GetService("UserInputService")
    UIS.InputBegan:Connect(function(input, processed) table.insert(log, input.KeyCode.Name .. tostring(processed)) end)
    triggerPrompt(part, player)
    clickDetector(part, player)
    click(button)
    pressKey(Enum.KeyCode.F)
    assert(UIS:IsKeyDown(Enum.KeyCode.F))
    releaseKey(Enum.KeyCode.F)
    assert(not UIS:IsKeyDown(Enum.KeyCode.F))
    assertEq(table.concat(log, ","), "prompt Alice,click Alice,button,activated,Ffalse")
    return true
    """
    ok(sandbox("", check))


def test_services_lighting_debris_collection_teleport(sandbox) -> None:
    check = """
    local Lighting = game:GetService("Lighting")
    Lighting.ClockTime = 25.5
    assert(Lighting.ClockTime == 1.5 and Lighting.TimeOfDay == "01:30:00")
    Lighting.TimeOfDay = "18:00:00"
    assert(Lighting.ClockTime == 18 and Lighting:GetMinutesAfterMidnight() == 1080)
    local part = makePart({ Name = "Temp" })
    game:GetService("Debris"):AddItem(part, 2)
    advance(1)
    assert(part.Parent == workspace)
    advance(1.1)
    assert(part.Parent == nil, "Debris destroys after the lifetime")
    local CS = game:GetService("CollectionService")
    local added = 0
    CS:GetInstanceAddedSignal("Lava"):Connect(function() added += 1 end)
    local lava = makePart({ Name = "L" })
    CS:AddTag(lava, "Lava")
    assert(added == 1 and CS:GetTagged("Lava")[1] == lava and lava:HasTag("Lava"))
    local player = spawnPlayer("Alice")
    game:GetService("TeleportService"):Teleport(1234, player)
    assert(teleports()[1].placeId == 1234 and teleports()[1].players[1] == player)
    assert(not pcall(function() game:GetService("NotAService") end))
    assert(game:GetService("Workspace") == workspace and game.Workspace == workspace)
    local hit = workspace:Raycast(Vector3.new(0, 50, 0), Vector3.new(0, -100, 0))
    assert(hit and (hit.Instance == lava or hit.Instance == part or hit.Instance.Parent ~= nil))
    return true
    """
    ok(sandbox("", check))


@pytest.mark.parametrize("parent", ["ServerStorage", "ReplicatedStorage", "StarterGui"])
def test_server_scripts_only_run_where_roblox_runs_them(sandbox, parent) -> None:
    result = sandbox('print("ran")', parent=parent)
    assert result.ok and result.log == ()


def test_legacy_style_script_still_runs(sandbox) -> None:
    """Older Roblox code (lowercase :connect, wait(), hit.Parent.Humanoid) works as in Roblox."""
    source = """
    function onTouched(hit)
        local h = hit.Parent:findFirstChild("Humanoid")
        if h ~= nil then
            h.Health = 0
        end
    end
    script.Parent.Touched:connect(onTouched)
    wait(1)
    script.Parent.BrickColor = BrickColor.new("Really red")
    """
    check = """
    local brick = findScriptPart("Main")
    local _, character = spawnPlayer("Old")
    touch(brick, character)
    assert(character.Humanoid.Health == 0)
    advance(1.1)
    assertEq(brick.BrickColor.Name, "Really red")
    return true
    """
    ok(sandbox(source, check, parent="Workspace.Brick"))


def test_metatables_are_locked_and_signal_wait_returns_arguments(sandbox) -> None:
    check = """
    local part = makePart({ Name = "P" })
    for _, v in { part, Vector3.new(), CFrame.new(), Color3.new(), Enum.KeyCode.E, part.Touched } do
        assertEq(getmetatable(v), "The metatable is locked", typeof(v))
        assert(not pcall(setmetatable, v, {}), "cannot replace the metatable of " .. typeof(v))
    end
    local _, character = spawnPlayer("A")
    task.delay(1, touch, part, character)
    local hit = part.Touched:Wait()
    assert(hit.Parent == character and clock() == 1, "Wait returns the event's arguments")
    return true
    """
    ok(sandbox("", check))


def test_humanoid_move_to_walks_at_walk_speed(sandbox) -> None:
    check = """
    local player, character = spawnPlayer("Walker")
    local humanoid, root = humanoidOf(character), rootOf(character)
    local start = root.Position
    local finished
    humanoid.MoveToFinished:Connect(function(reached) finished = reached end)
    humanoid:MoveTo(start + Vector3.new(32, 0, 0))
    advance(1)
    assertNear(root.Position.X - start.X, 16, 0.5, "walks WalkSpeed studs per second")
    assert(finished == nil, "still walking")
    advance(1.1)
    assertNear(root.Position, start + Vector3.new(32, 0, 0), 0.01, "arrives")
    assert(finished == true and character.Head.Position.X > start.X + 30, "the body comes along")
    humanoid:MoveTo(start + Vector3.new(1000, 0, 0))
    advance(8.1)
    assert(finished == false, "MoveTo gives up after 8 seconds")
    return true
    """
    ok(sandbox("", check))


def test_world_starts_like_studios_baseplate_template(sandbox) -> None:
    source = 'workspace.Baseplate.BrickColor = BrickColor.new("Bright red")'
    check = """
    assert(workspace.Baseplate.Anchored and workspace.Baseplate.Size == Vector3.new(2048, 16, 2048))
    assertEq(workspace.Baseplate.BrickColor.Name, "Bright red")
    local _, character = spawnPlayer("A")
    assertNear(rootOf(character).Position, workspace.SpawnLocation.Position + Vector3.new(0, 3, 0), 1e-6)
    assert(workspace.CurrentCamera and workspace.Terrain)
    return true
    """
    ok(sandbox(source, check))


def test_print_and_warn_are_captured_and_the_log_is_capped(sandbox) -> None:
    result = sandbox('print("a", 1, nil, true)\nwarn("careful")\nprint(Vector3.new(1, 2, 3))')
    ok(result)
    assert result.log == ("a 1 nil true", "[warn] careful", "1, 2, 3")
    flood = sandbox('for i = 1, 5000 do print(string.rep("x", 200), i) end')
    ok(flood)
    assert flood.log[-1] == "(log truncated)"
    assert sum(len(line) for line in flood.log) < 70_000
